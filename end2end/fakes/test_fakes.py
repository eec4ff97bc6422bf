"""Checks of the SMS and Duo fakes: serve.py runs as a subprocess and is driven over HTTP.

    .venv/bin/python -m pytest -q -p no:cacheprovider end2end/fakes/test_fakes.py
"""

import base64
import email.utils
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import duo  # noqa: E402

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token"


@pytest.fixture(scope="module")
def base():
    proc = subprocess.Popen([sys.executable, str(HERE / "serve.py"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    assert line.startswith("READY "), line
    yield f"http://127.0.0.1:{line.split()[1]}"
    proc.terminate()
    proc.wait(10)


def call(url, method="GET", body=None, headers=None):
    """→ (status, headers, parsed JSON or text)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, head, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, head, raw = error.code, error.headers, error.read()
    try:
        return status, head, json.loads(raw)
    except ValueError:
        return status, head, raw.decode("utf-8", "replace")


def control(base, path, payload):
    status, _, answer = call(base + path, "POST", json.dumps(payload).encode(),
                             {"Content-Type": "application/json"})
    assert status < 300, answer
    return answer


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# ---- Twilio ----

@pytest.fixture(scope="module")
def twilio(base):
    control(base, "/_fake/sms/twilio/accounts", {"sid": ACCOUNT, "token": TOKEN,
                                                 "landlines": ["+4930123456"]})

    def send(fields, sid=ACCOUNT, auth=basic(ACCOUNT, TOKEN), json_body=False):
        headers = {"Authorization": auth} if auth else {}
        if json_body:
            body, headers["Content-Type"] = json.dumps(fields).encode(), "application/json"
        else:
            body = urlencode(fields).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return call(f"{base}/2010-04-01/Accounts/{sid}/Messages.json", "POST", body, headers)
    return send


GOOD = {"To": "+15558675310", "From": "+15017122661", "Body": "Your code is 123456"}


def test_twilio_accepts_a_valid_send(base, twilio):
    status, _, message = twilio(GOOD)
    assert status == 201
    assert message["sid"].startswith("SM") and len(message["sid"]) == 34
    assert (message["to"], message["from"], message["body"]) == (GOOD["To"], GOOD["From"], GOOD["Body"])
    assert message["status"] == "queued" and message["direction"] == "outbound-api"
    assert message["account_sid"] == ACCOUNT and message["num_segments"] == "1"
    assert message["uri"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{message['sid']}.json"
    assert email.utils.parsedate_tz(message["date_created"]) is not None
    assert message["error_code"] is None and message["price"] is None
    _, _, log = call(base + "/_fake/sms/messages")
    assert log[-1]["sid"] == message["sid"] and log[-1]["auth_ok"] is True
    assert TOKEN not in json.dumps(log)


@pytest.mark.parametrize("change, status, code", [
    ({"auth": basic(ACCOUNT, "wrong")}, 401, 20003),
    ({"auth": None}, 401, 20003),
    ({"sid": "AC" + "f" * 32, "auth": basic("AC" + "f" * 32, TOKEN)}, 401, 20003),
    ({"sid": "AC" + "e" * 32}, 404, 20404),
    ({"fields": dict(GOOD, To="5558675310")}, 400, 21211),
    ({"fields": dict(GOOD, To="+05558675310")}, 400, 21211),
    ({"fields": dict(GOOD, From="not a number!")}, 400, 21212),
    ({"fields": dict(GOOD, Body="")}, 400, 21602),
    ({"fields": {"To": GOOD["To"], "From": GOOD["From"]}}, 400, 21602),
    ({"fields": dict(GOOD, To="+4930123456")}, 400, 21614),
    ({"json_body": True}, 400, 21604),
])
def test_twilio_refusals(twilio, change, status, code):
    change = dict(change)
    fields = change.pop("fields", GOOD)
    got, headers, error = twilio(fields, **change)
    assert (got, error["code"], error["status"]) == (status, code, status)
    assert error["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    if status == 401:
        assert headers["WWW-Authenticate"].startswith("Basic")


def test_twilio_fail_status_answers_an_html_page(base, twilio):
    control(base, "/_fake/sms/twilio/accounts", {"sid": "AC" + "1" * 32, "token": "t",
                                                 "fail_status": 500})
    status, headers, page = twilio(GOOD, sid="AC" + "1" * 32, auth=basic("AC" + "1" * 32, "t"))
    assert status == 500 and headers["Content-Type"].startswith("text/html") and "<html>" in page


# ---- generic webhook ----

def webhook(base, payload, auth, content_type="application/json"):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": content_type}
    if auth:
        headers["Authorization"] = auth
    return call(base + "/sms/webhook", "POST", body, headers)


def test_webhook_basic_auth(base):
    control(base, "/_fake/sms/webhook", {"auth": "basic", "username": "hook", "password": "pw"})
    payload = {"From": "keyflow", "To": "+15558675310", "Body": "123456", "Message": "Code 123456"}
    assert webhook(base, payload, basic("hook", "pw"))[:3:2] == (200, {"ok": True})
    status, headers, text = webhook(base, payload, basic("hook", "nope"))
    assert status == 401 and headers["Content-Type"].startswith("text/plain")
    assert webhook(base, payload, "Bearer pw")[0] == 401
    assert webhook(base, b"To=+1555", basic("hook", "pw"), "application/x-www-form-urlencoded")[0] == 400
    assert webhook(base, b"{not json", basic("hook", "pw"))[0] == 400
    _, _, log = call(base + "/_fake/sms/messages")
    hooks = [m for m in log if m["gateway"] == "webhook"][-5:]
    assert [m["status"] for m in hooks] == [200, 401, 401, 400, 400]
    assert hooks[0]["json"] == payload and hooks[0]["to"] == "+15558675310" and hooks[0]["auth_ok"]
    assert '"pw"' not in json.dumps(log)


def test_webhook_bearer_auth_and_reshaped_body(base):
    control(base, "/_fake/sms/webhook", {"auth": "bearer", "token": "tok3n"})
    reshaped = {"recipient": "+15558675310", "text": "123456"}
    assert webhook(base, reshaped, "Bearer tok3n")[0] == 200
    assert webhook(base, reshaped, "Bearer wrong")[0] == 401
    assert webhook(base, reshaped, None)[0] == 401
    _, _, log = call(base + "/_fake/sms/messages")
    assert log[-3]["json"] == reshaped and log[-3]["to"] is None


# ---- Duo signing against published worked examples ----

UNICODE_PARAMS = {
    "\u469a\u287b\u35d0\u8ef3\u6727\u502a\u0810\ud091\xc8\uc170":
        "\u0f45\u1a76\u341a\u654c\uc23f\u9b09\uabe2\u8343\u1b27\u60d0",
    "\u7449\u7e4b\uccfb\u59ff\ufe5f\u83b7\uadcc\u900c\ucfd1\u7813":
        "\u8db7\u5022\u92d3\u42ef\u207d\u8730\uacfe\u5617\u0946\u4e30",
    "\u7470\u9314\u901c\u9eae\u40d8\u4201\u82d8\u8c70\u1d31\ua042":
        "\u17d9\u0ba8\u9358\uaadf\ua42a\u48be\ufb96\u6fe9\ub7ff\u32f3",
    "\uc2c5\u2c1d\u2620\u3617\u96b3F\u8605\u20e8\uac21\u5934":
        "\ufba9\u41aa\ubd83\u840b\u2615\u3e6e\u652d\ua8b5\ud56bU",
}


def test_v2_signature_matches_duo_client_python():
    # duo_client_python tests/test_client.py TestSign.test_hmac_sha1 / test_hmac_sha512
    canonical = duo.canonicalize("PoSt", "foO.BAr52.cOm", "/Foo/BaR2/qux", UNICODE_PARAMS,
                                 "Fri, 07 Dec 2012 17:18:00 -0000")
    assert canonical.startswith("Fri, 07 Dec 2012 17:18:00 -0000\nPOST\nfoo.bar52.com\n/Foo/BaR2/qux\n"
                                "%E4%9A%9A%E2%A1%BB")
    skey = "gtdfxv9YgVBYcF6dl2Eq17KUQJN2PLM2ODVTkvoT"
    assert duo.sign(skey, canonical, "sha1") == "f01811cbbf9561623ab45b893096267fd46a5178"
    assert duo.sign(skey, canonical, "sha512") == (
        "0508065035a03b2a1de2f453e629e791d180329e157f65df6b3e0f08299d4321"
        "e1c5c7a7c7ee6b9e5fc80d1fb6fbf3ad5eb7c44dd3b3985a02c37aca53ec3698")


def test_v2_signature_matches_duo_docs_example():
    header = duo.authorization("DIWJ8X6AEYOR5OMC6TQ1", "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep",
                               "POST", "api-XXXXXXXX.duosecurity.com", "/accounts/v1/account/list",
                               {"realname": "First Last", "username": "root"},
                               "Tue, 21 Aug 2012 17:29:18 -0000", digest="sha1")
    assert header == ("Basic RElXSjhYNkFFWU9SNU9NQzZUUTE6MmQ5N2Q2MTY2MzE5NzgxYjVhM2EwN2Fm"
                      "MzlkMzY2ZjQ5MTIzNGVkYw==")


def test_v5_signature_matches_duo_hmac_python():
    # duo_hmac_python test/test_hmac.py (x-duo-date is sent and signed as an x-duo header)
    date = "Fri, 24 May 2024 12:00:00 -0000"

    def auth(method, params, body, headers):
        return duo.authorization("DIABCDEFGHIJKLMNOPQR", "test" * 10, method,
                                 "api-xxxxxxxx.duosecurity.com", "/api/path", params, date, 5,
                                 body=body, duo_headers=dict(headers, **{"x-duo-date": date}))
    assert auth("GET", {}, "", {}) == (
        "Basic RElBQkNERUZHSElKS0xNTk9QUVI6YzQ1NDYzOWQ3NWI0ZTNkOTliOGIxZDVlNDFjZDdiYjJkMmQ4YmE1NWY2"
        "ODExZjc4NmRmYjBlZGQ0ZmFjZDJmM2E1ZTZkNmM4MzdmMzFmNjgyNjcwNjMyNWI0ZWQ3ZGNkYzVmMTExNjQ5NDhl"
        "NTdhNzAzMmE1MjQ5OTBlMDE1ODM=")
    assert auth("POST", {}, '{"foo":"bar"}', {}) == (
        "Basic RElBQkNERUZHSElKS0xNTk9QUVI6NjQzNzcwYWYzMTAwNmM1ODRhNzU4ZDkyNjI1MGU0NmE5MGQ3OTEwMGQy"
        "MWY3YTAzMTNjM2U3N2Q2NGZhM2M1ZDJjOTRlMmM5MDgxYTJiNjUzNDNjYzNkNWYyZWQyMWY3MzAwZWE1MGIwMDY0"
        "MGNiMTc2MGYzMjMxOTIzMDdkMzc=")
    assert auth("GET", {"foo": "bar", "one": "1", "bool": "true"}, "",
                {"x-duo-foo": "bar", "x-duo-bar": "foo"}) == (
        "Basic RElBQkNERUZHSElKS0xNTk9QUVI6ZDQ2NTU2NzI2ODAwNDE1ZGM3OGNlZmMzZmI0ZTExZGNmM2VlMTM0Mjkw"
        "NGYyNzZlZDVjOGUzNDI3ODc4YmQ1Mzc2ZWE2YzU1NTFiOTBiZjcwN2ZhYjUzZjZmMWQyMGExMTQ4OTg4OTg3MDVk"
        "MjgyNjg4MjRlZGQwYmU1ZjFkNTM=")


# ---- Duo over HTTP ----

IKEY, SKEY = "DIAUTHAPPKEY00000001", "auth-app-secret-key-0123456789abcdefghij"
AKEY, ASKEY = "DIADMINAPPKEY0000001", "admin-app-secret-key-0123456789abcdefghi"


@pytest.fixture(scope="module")
def duo_api(base):
    host = base.removeprefix("http://")
    control(base, "/_fake/duo/apps", {"ikey": IKEY, "skey": SKEY, "host": host})
    control(base, "/_fake/duo/apps", {"ikey": AKEY, "skey": ASKEY, "host": host, "admin": True})

    def request(method, path, params=None, ikey=IKEY, skey=SKEY, version=2, digest="sha512",
                date=None, auth=True):
        params = params or {}
        date = date or email.utils.formatdate()
        headers, body, query = {"Date": date}, None, ""
        if method == "POST" and version == 5:
            body = json.dumps(params, sort_keys=True, separators=(",", ":"))
            headers["Content-Type"], signed = "application/json", {}
        elif method == "POST":
            body = urlencode(params)
            headers["Content-Type"], signed = "application/x-www-form-urlencoded", params
        else:
            query, signed = ("?" + urlencode(params)) if params else "", params
        if auth:
            headers["Authorization"] = duo.authorization(ikey, skey, method, host, path, signed, date,
                                                         version, digest, body or "")
        return call(base + path + query, method, body.encode() if body is not None else None, headers)
    return request


@pytest.mark.parametrize("version, digest", [(2, "sha1"), (2, "sha512"), (5, "sha512")])
def test_duo_accepts_documented_signatures(base, duo_api, version, digest):
    status, _, answer = duo_api("GET", "/auth/v2/check", version=version, digest=digest)
    assert status == 200 and answer["stat"] == "OK" and abs(answer["response"]["time"] - time.time()) < 5
    status, _, answer = duo_api("POST", "/auth/v2/preauth", {"username": f"nobody{version}{digest}"},
                                version=version, digest=digest)
    assert (status, answer["response"]["result"]) == (200, "enroll")
    _, _, seen = call(base + "/_fake/duo/requests")
    assert seen[-1]["signature_ok"] and seen[-1]["signature"] == f"v{version}-{digest}"
    assert SKEY not in json.dumps(seen)


@pytest.mark.parametrize("kwargs, status, code", [
    ({"auth": False}, 401, 40101),
    ({"skey": "not-the-secret"}, 401, 40103),
    ({"ikey": "DIUNKNOWN00000000000"}, 401, 40102),
    ({"date": email.utils.formatdate(time.time() - 600)}, 401, 40105),
    ({"date": email.utils.formatdate(time.time() + 600)}, 401, 40105),
    ({"ikey": AKEY, "skey": ASKEY}, 403, 40301),
])
def test_duo_rejects_bad_credentials(duo_api, kwargs, status, code):
    got, _, answer = duo_api("POST", "/auth/v2/preauth", {"username": "alice"}, **kwargs)
    assert (got, answer["stat"], answer["code"]) == (status, "FAIL", code)


def test_duo_signature_covers_the_parameters(base, duo_api):
    date = email.utils.formatdate()
    host = base.removeprefix("http://")
    header = duo.authorization(IKEY, SKEY, "POST", host, "/auth/v2/preauth", {"username": "alice"}, date)
    status, _, answer = call(base + "/auth/v2/preauth", "POST", b"username=mallory",
                             {"Date": date, "Authorization": header,
                              "Content-Type": "application/x-www-form-urlencoded"})
    assert (status, answer["code"]) == (401, 40103)


def test_duo_missing_parameters(duo_api):
    status, _, answer = duo_api("POST", "/auth/v2/preauth")
    assert (status, answer["code"], answer["message"]) == (400, 40001, "Missing required request parameters")
    assert duo_api("POST", "/auth/v2/enroll_status", {"user_id": "DUX"})[2]["code"] == 40001


def test_duo_enroll_activate_and_push(base, duo_api):
    status, _, answer = duo_api("POST", "/auth/v2/enroll", {"username": "alice", "valid_secs": "3600"})
    enrolled = answer["response"]
    assert status == 200 and enrolled["username"] == "alice" and enrolled["user_id"].startswith("DU")
    assert enrolled["activation_code"].startswith("duo://")
    status, headers, _ = call(enrolled["activation_barcode"])
    assert status == 200 and headers["Content-Type"] == "image/png"
    check = {"user_id": enrolled["user_id"], "activation_code": enrolled["activation_code"]}
    assert duo_api("POST", "/auth/v2/enroll_status", check)[2]["response"] == "waiting"
    assert duo_api("POST", "/auth/v2/enroll", {"username": "alice"})[2]["code"] == 40002
    control(base, f"/_fake/duo/enrollments/{enrolled['user_id']}/activate", {})
    assert duo_api("POST", "/auth/v2/enroll_status", check)[2]["response"] == "success"
    wrong = dict(check, activation_code="duo://nope")
    assert duo_api("POST", "/auth/v2/enroll_status", wrong)[2]["response"] == "invalid"

    pre = duo_api("POST", "/auth/v2/preauth", {"user_id": enrolled["user_id"]})[2]["response"]
    assert pre["result"] == "auth" and "push" in pre["devices"][0]["capabilities"]
    device = pre["devices"][0]["device"]
    push = {"factor": "push", "user_id": enrolled["user_id"], "device": device}
    control(base, "/_fake/duo/push", {"username": "alice", "answer": "approve"})
    assert duo_api("POST", "/auth/v2/auth", push)[2]["response"]["result"] == "allow"
    control(base, "/_fake/duo/push", {"user_id": enrolled["user_id"], "answer": "deny"})
    denied = duo_api("POST", "/auth/v2/auth", dict(push, device="auto"), version=5)[2]["response"]
    assert (denied["result"], denied["status"]) == ("deny", "deny")

    txid = duo_api("POST", "/auth/v2/auth", dict(push, factor="auto", **{"async": "1"}))[2]["response"]["txid"]
    assert duo_api("GET", "/auth/v2/auth_status", {"txid": txid})[2]["response"]["result"] == "waiting"
    control(base, "/_fake/duo/push", {"username": "alice", "answer": "approve"})
    assert duo_api("GET", "/auth/v2/auth_status", {"txid": txid})[2]["response"]["result"] == "allow"

    control(base, "/_fake/duo/passcodes", {"username": "alice", "passcode": "123456"})
    passcode = {"factor": "passcode", "username": "alice", "passcode": "123456"}
    assert duo_api("POST", "/auth/v2/auth", passcode)[2]["response"]["result"] == "allow"
    assert duo_api("POST", "/auth/v2/auth", passcode)[2]["response"]["result"] == "deny"
    _, _, seen = call(base + "/_fake/duo/requests")
    assert "123456" not in json.dumps(seen)


def test_duo_sync_push_waits_for_the_phone(base, duo_api):
    user = control(base, "/_fake/duo/users", {"username": "carol", "devices": [{}]})
    push = {"factor": "auto", "user_id": user["user_id"], "device": "auto"}
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(duo_api("POST", "/auth/v2/auth", push)))
    waiter.start()
    time.sleep(0.3)
    assert answers == []  # still waiting for the phone
    assert control(base, "/_fake/duo/push", {"username": "carol", "answer": "deny", "delay_ms": 100})["txid"]
    waiter.join(10)
    assert answers[0][2]["response"] == {"result": "deny", "status": "deny",
                                         "status_msg": "Login request denied."}


def test_duo_admin_user_import(base, duo_api):
    control(base, "/_fake/duo/users", {"username": "bob", "devices": [
        {"number": "+15555550123", "platform": "Google Android"}]})
    status, _, answer = duo_api("GET", "/admin/v1/users", {"username": "bob"}, ikey=AKEY, skey=ASKEY)
    assert status == 200 and answer["metadata"]["total_objects"] == 1
    (bob,) = answer["response"]
    assert bob["username"] == "bob" and bob["phones"][0]["number"] == "+15555550123"
    assert duo_api("GET", "/admin/v1/users", {"username": "bob"})[0] == 403
