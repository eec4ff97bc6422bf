"""Fake Duo: the Auth API v2 endpoints authentik's Duo stages call, and the Admin API's user lookup
used to import devices. Answers are `{"stat": "OK", "response": ...}`.

- `GET /auth/v2/ping` (unsigned), `GET /auth/v2/check` → `{"time"}`.
- `POST /auth/v2/enroll` (`username`, `valid_secs`) → `{activation_barcode, activation_code
  ("duo://..."), activation_url, expiration, user_id, username}`; a taken username → 400 40002.
- `POST /auth/v2/enroll_status` (`user_id`, `activation_code`) → "waiting" | "success" | "invalid".
- `POST /auth/v2/preauth` (`username` or `user_id`) → `{result, status_msg, devices: [{device, type,
  capabilities, display_name, name, number}]}`; result "enroll" for an unknown username or a user
  without devices, "allow"/"deny" for status "bypass"/"disabled", else "auth".
- `POST /auth/v2/auth` (`factor` auto|push|phone|sms|passcode, `username` or `user_id`, `device` (ID
  or "auto") unless passcode, `passcode`, `async`) → `{result, status, status_msg}`, or `{txid}` if
  `async=1` for `GET /auth/v2/auth_status` (`txid`) → waiting ("pushed") | allow | deny. A sync
  push waits up to 60 s (Duo's push timeout) for the test's answer.
- `GET /admin/v1/users` (`username`, `limit`, `offset`) → users with `phones` (admin apps only).
- `GET /frame/qr?value=...` → a placeholder PNG, so an activation_barcode `<img>` loads.

Signing, as found: Duo's API docs — Basic auth, username = integration key, password = hex HMAC of
Date (RFC 2822) \n METHOD \n host (lower case) \n path \n params (URL-encoded: all bytes but
`A-Za-z0-9_.~-` as upper-case %XX; sorted; "&"-joined). The docs' worked example (ikey
DIWJ8X6AEYOR5OMC6TQ1, POST /accounts/v1/account/list, 2012) and the Duo KB text for 40103 use
HMAC-SHA1. Duo's clients moved to HMAC-SHA512 in 2022 (duo_client_python #179/#183; duo_client_java
#57: "v2 and v5 are the same other than the fact that v2 allows SHA-1"); duo_client_python signs
v5 by default since 2023 (#224): the v2 lines plus the SHA-512 hex of the body (JSON POST body,
sorted keys, no spaces; "" for GET) and of the lower-cased, sorted `x-duo-*` headers
(name\0value\0...), always HMAC-SHA512. Duo's own mock (duo_unix tests/mockduo.py) checks v2 with
HMAC-SHA512, reads X-Duo-Date before Date, allows 300 s of skew. So this fake accepts v2 with
HMAC-SHA1 or -SHA512 (form POST body or query string) and v5 with HMAC-SHA512 (JSON POST, or GET).
`canonicalize`/`sign`/`authorization` are checked against duo_client's and duo_hmac's worked
examples in test_fakes.py.

Refusals `{"stat": "FAIL", "code", "message"[, "message_detail"]}`: bad or no Authorization → 401
40101 "Missing request credentials"; unknown ikey → 401 40102; no date → 401 40104 "Missing request
timestamp" (Duo's message; the code is assumed); a date > 300 s off → 401 40105 "Invalid request
timestamp"; wrong signature → 401 40103 "Invalid signature in request credentials"; an Auth API
key on the Admin API or the reverse → 403 40301; missing parameters → 400 40001 "Missing required
request parameters"; bad values → 400 40002 "Invalid request parameters"; unknown path → 404 40401.

Test controls (JSON):
- `POST /_fake/duo/apps` `{"ikey", "skey", "host" (what the signature must name, e.g.
  "127.0.0.1:PORT"; default: the Host header), "admin": false|true}`.
- `POST /_fake/duo/enrollments/{user_id}/activate` `{device fields?}`: the phone scanned the QR
  code; the user gets a Duo Mobile device and enroll_status answers "success".
- `POST /_fake/duo/push` `{"user_id" or "username", "answer": "approve"|"deny"|"timeout",
  "delay_ms"}` answers the user's oldest pending push, else the user's next one.
- `POST /_fake/duo/passcodes` `{"username" or "user_id", "passcode"}` adds a single-use passcode.
- `POST /_fake/duo/users` `{"username", "user_id"?, "realname", "email", "status", "devices":
  [{"device"?, "type", "number", "name", "platform", "capabilities"}]}` creates or replaces a user.
- `GET /_fake/duo/requests` → `[{"method", "path", "ikey", "params" (passcode hidden),
  "signature_ok", "signature" ("v2-sha1"|"v2-sha512"|"v5-sha512"|null), "status", "code"}]`.
"""

import base64
import binascii
import calendar
import email.utils
import hashlib
import hmac
import json
import re
import secrets
import string
import threading
import time
import uuid
from collections import deque
from urllib.parse import parse_qsl, quote

from serve_types import Reply

SKEW_S = 300
PUSH_TIMEOUT_S = 60
MOBILE_CAPABILITIES = ["auto", "push", "sms", "phone", "mobile_otp"]
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg==")
OUTCOMES = {  # answer -> (result, status, status_msg)
    "approve": ("allow", "allow", "Success. Logging you in..."),
    "deny": ("deny", "deny", "Login request denied."),
    "timeout": ("deny", "timeout", "Login timed out."),
    "passcode_ok": ("allow", "allow", "Success. Logging you in..."),
    "passcode_bad": ("deny", "deny", "Incorrect passcode. Please try again."),
    "sms": ("deny", "sent", "New SMS passcodes sent."),
    "waiting": ("waiting", "pushed", "Pushed a login request to your device..."),
}
ERRORS = {
    40001: (400, "Missing required request parameters"), 40002: (400, "Invalid request parameters"),
    40101: (401, "Missing request credentials"),
    40102: (401, "Invalid integration key in request credentials"),
    40103: (401, "Invalid signature in request credentials"),
    40104: (401, "Missing request timestamp"), 40105: (401, "Invalid request timestamp"),
    40301: (403, "Access forbidden"), 40401: (404, "Resource not found"),
    40501: (405, "Method not allowed"),
}


# ---- signing ----

def canon_params(params):
    """`{name: value or [values]}` → Duo's sorted, URL-encoded `k=v&...` line."""
    pairs = []
    for key, values in params.items():
        values = values if isinstance(values, (list, tuple)) else [values]
        pairs += [(quote(str(key), "~"), quote(str(v), "~")) for v in values]
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonicalize(method, host, path, params, date, sig_version=2, body="", duo_headers=None):
    """The text Duo signs: v2 is five lines; v5 adds the SHA-512 of the body and x-duo headers."""
    lines = [date, method.upper(), host.lower(), path, canon_params(params)]
    if sig_version == 5:
        lowered = {name.lower(): value for name, value in (duo_headers or {}).items()}
        headers = "\x00".join(part for name in sorted(lowered) for part in (name, lowered[name]))
        lines.append(hashlib.sha512((body or "").encode("utf-8")).hexdigest())
        lines.append(hashlib.sha512(headers.encode("utf-8")).hexdigest())
    elif sig_version != 2:
        raise ValueError(f"unsupported signature version {sig_version}")
    return "\n".join(lines)


def sign(skey, canonical, digest="sha512"):
    return hmac.new(skey.encode("utf-8"), canonical.encode("utf-8"), digest).hexdigest()


def authorization(ikey, skey, method, host, path, params, date, sig_version=2, digest="sha512",
                  body="", duo_headers=None):
    """The `Authorization` header value a Duo client sends."""
    canonical = canonicalize(method, host, path, params, date, sig_version, body, duo_headers)
    return "Basic " + base64.b64encode(f"{ikey}:{sign(skey, canonical, digest)}".encode()).decode()


def new_id(prefix):
    return prefix + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(18))


def outcome(answer):
    result, status, message = OUTCOMES[answer]
    return {"result": result, "status": status, "status_msg": message}


def multidict(pairs):
    grouped = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped


class DuoError(Exception):
    def __init__(self, code, detail=None):
        super().__init__(code)
        self.code, self.detail = code, detail


class Duo:
    def __init__(self):
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.apps = {}  # ikey -> {"skey", "host", "admin"}
        self.users = {}  # user_id -> user
        self.enrollments = {}  # activation code (without duo://) -> {"user_id", "expires", "done"}
        self.push_answers = {}  # user_id -> deque of {"answer", "delay_ms"}
        self.transactions = {}  # txid -> {"user_id", "answer", "due", "created"}
        self.passcodes = {}  # user_id -> [passcode]
        self.requests = []

    def handle(self, request):
        path, method = request.path, request.method
        if path.startswith("/_fake/duo/"):
            return self.control(method, path[len("/_fake/duo/"):], request)
        if path == "/frame/qr" and method == "GET":
            return Reply(200, PNG, "image/png")
        if path == "/auth/v2/ping" and method == "GET":
            return Reply(200, {"stat": "OK", "response": {"time": int(time.time())}})
        if path.startswith(("/auth/v2/", "/admin/v1/")):
            return self.api(request)
        return None

    # ---- the signed API ----

    def api(self, request):
        params, signed, raw_body, is_json = self.parameters(request)
        entry = {"method": request.method, "path": request.path, "ikey": None,
                 "params": {k: ("***" if k == "passcode" else v) for k, v in (params or {}).items()},
                 "signature_ok": False, "signature": None}
        try:
            app = self.authenticate(request, signed, raw_body, is_json, entry)
            if params is None:
                raise DuoError(40002, "the JSON body must be an object")
            if app["admin"] != request.path.startswith("/admin/"):
                raise DuoError(40301)
            status, response = 200, {"stat": "OK", "response": self.route(request, params, app)}
            if isinstance(response["response"], tuple):  # (list, paging metadata)
                response["response"], response["metadata"] = response["response"]
        except DuoError as error:
            status, message = ERRORS[error.code]
            response = {"stat": "FAIL", "code": error.code, "message": message}
            if error.detail:
                response["message_detail"] = error.detail
        with self.lock:
            self.requests.append(dict(entry, status=status, code=response.get("code")))
        return Reply(status, response)

    @staticmethod
    def parameters(request):
        """→ (endpoint params, None for a non-object JSON body; v2-signed {name: [values]}; raw
        body; whether the body is JSON)."""
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        raw = request.body.decode("utf-8", "replace")
        pairs = parse_qsl(request.query, keep_blank_values=True)
        if request.method != "GET" and content_type == "application/json":
            try:
                body = json.loads(raw or "{}")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return None, {}, raw, True
            flat = {k: (json.dumps(v) if isinstance(v, bool) else str(v)) for k, v in body.items()}
            return dict(dict(pairs), **flat), {}, raw, True
        if request.method != "GET":
            pairs += parse_qsl(raw, keep_blank_values=True)
        return dict(pairs), multidict(pairs), raw, False

    def authenticate(self, request, signed, raw_body, is_json, entry):
        scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        ikey, _, given = decoded.partition(":")
        if scheme.lower() != "basic" or not ikey or not given:
            raise DuoError(40101)
        entry["ikey"] = ikey
        with self.lock:
            app = self.apps.get(ikey)
        if app is None:
            raise DuoError(40102)
        date = request.headers.get("X-Duo-Date") or request.headers.get("Date")
        if not date:
            raise DuoError(40104)
        parsed = email.utils.parsedate_tz(date)
        if parsed is None or abs(calendar.timegm(parsed[:9]) - (parsed[9] or 0) - time.time()) > SKEW_S:
            raise DuoError(40105)
        host = app["host"] or request.headers.get("Host") or ""
        duo_headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-duo-")}
        if is_json:  # v5 only: the body is hashed, only the query string is canonicalised
            query = multidict(parse_qsl(request.query, keep_blank_values=True))
            candidates = [("v5-sha512", 5, "sha512", query, raw_body)]
        else:
            candidates = [("v2-sha1", 2, "sha1", signed, ""), ("v2-sha512", 2, "sha512", signed, "")]
            if request.method == "GET":
                candidates.append(("v5-sha512", 5, "sha512", signed, ""))
        for name, version, digest, signed_params, body in candidates:
            canonical = canonicalize(request.method, host, request.path, signed_params, date,
                                     version, body, duo_headers)
            expected = sign(app["skey"], canonical, digest).encode()
            if hmac.compare_digest(expected, given.lower().encode("utf-8")):
                entry.update(signature_ok=True, signature=name)
                return app
        raise DuoError(40103)

    def route(self, request, params, app):
        routes = {
            ("GET", "/auth/v2/check"): lambda: {"time": int(time.time())},
            ("POST", "/auth/v2/enroll"): lambda: self.enroll(params, app["host"] or request.headers.get("Host")),
            ("POST", "/auth/v2/enroll_status"): lambda: self.enroll_status(params),
            ("POST", "/auth/v2/preauth"): lambda: self.preauth(params),
            ("POST", "/auth/v2/auth"): lambda: self.auth(params),
            ("GET", "/auth/v2/auth_status"): lambda: self.auth_status(params),
            ("GET", "/admin/v1/users"): lambda: self.admin_users(params),
        }
        handler = routes.get((request.method, request.path))
        if handler is None:
            raise DuoError(40501 if any(p == request.path for _, p in routes) else 40401)
        return handler()

    # ---- endpoints ----

    def find_user(self, params):
        """The user named by `user_id` or `username` (None for an unknown username)."""
        with self.lock:
            if params.get("user_id"):
                if params["user_id"] not in self.users:
                    raise DuoError(40002, "user_id")
                return self.users[params["user_id"]]
            if not params.get("username"):
                raise DuoError(40001, "username or user_id")
            return next((u for u in self.users.values() if u["username"] == params["username"]), None)

    def enroll(self, params, host):
        username = params.get("username") or uuid.uuid4().hex
        valid_secs = params.get("valid_secs") or "86400"
        if not valid_secs.isdigit():
            raise DuoError(40002, "valid_secs")
        code = secrets.token_urlsafe(30)
        with self.lock:
            if any(u["username"] == username for u in self.users.values()):
                raise DuoError(40002, "username already exists")
            user = self.new_user({"username": username})
            expires = int(time.time()) + int(valid_secs)
            self.enrollments[code] = {"user_id": user["user_id"], "expires": expires, "done": False}
        return {"activation_barcode": f"http://{host}/frame/qr?value={quote('duo://' + code, '')}",
                "activation_code": f"duo://{code}", "activation_url": f"http://{host}/activate/{code}",
                "expiration": expires, "user_id": user["user_id"], "username": username}

    def enroll_status(self, params):
        for name in ("user_id", "activation_code"):
            if not params.get(name):
                raise DuoError(40001, name)
        with self.lock:
            enrollment = self.enrollments.get(params["activation_code"].removeprefix("duo://"))
        if not enrollment or enrollment["user_id"] != params["user_id"]:
            return "invalid"
        if enrollment["done"]:
            return "success"
        return "waiting" if enrollment["expires"] > time.time() else "invalid"

    def preauth(self, params):
        user = self.find_user(params)
        if user and user["status"] in ("bypass", "disabled"):
            allow = user["status"] == "bypass"
            return {"result": "allow" if allow else "deny",
                    "status_msg": "Access allowed" if allow else "Access denied"}
        if not user or not user["devices"]:
            return {"result": "enroll", "status_msg": "Enroll an authentication device to proceed",
                    "enroll_portal_url": "http://duo.invalid/portal"}
        keys = ("device", "type", "capabilities", "display_name", "name", "number")
        return {"result": "auth", "status_msg": "Account is active",
                "devices": [{k: d[k] for k in keys} for d in user["devices"]]}

    def auth(self, params):
        factor = params.get("factor")
        if factor not in ("auto", "push", "phone", "sms", "passcode"):
            raise DuoError(40002 if factor else 40001, "factor")
        user = self.find_user(params)
        if user is None:
            raise DuoError(40002, "username")
        if factor == "passcode":
            if not params.get("passcode"):
                raise DuoError(40001, "passcode")
            with self.lock:
                codes = self.passcodes.get(user["user_id"], [])
                ok = params["passcode"] in codes
                if ok:
                    codes.remove(params["passcode"])
            return outcome("passcode_ok" if ok else "passcode_bad")
        if not params.get("device"):
            raise DuoError(40001, "device")
        wanted = "push" if factor == "auto" else factor
        if not any(wanted in d["capabilities"] and params["device"] in ("auto", d["device"])
                   for d in user["devices"]):
            raise DuoError(40002, "device")
        if factor == "sms":
            return outcome("sms")
        txid = str(uuid.uuid4())
        with self.lock:
            self.transactions[txid] = {"user_id": user["user_id"], "answer": None, "due": 0,
                                       "created": time.time()}
            if self.push_answers.get(user["user_id"]):
                self.resolve(txid, self.push_answers[user["user_id"]].popleft())
            if params.get("async") in ("1", "true"):
                return {"txid": txid}
            tx = self.transactions[txid]
            if not self.changed.wait_for(lambda: tx["answer"], PUSH_TIMEOUT_S):
                self.resolve(txid, {"answer": "timeout"})  # nobody answered: the push is over
        time.sleep(max(0.0, tx["due"] - time.time()))
        return outcome(tx["answer"])

    def auth_status(self, params):
        if not params.get("txid"):
            raise DuoError(40001, "txid")
        with self.lock:
            tx = self.transactions.get(params["txid"])
            if tx is None:
                raise DuoError(40002, "txid")
            if tx["answer"] is None and time.time() - tx["created"] > PUSH_TIMEOUT_S:
                self.resolve(params["txid"], {"answer": "timeout"})
            done = tx["answer"] is not None and tx["due"] <= time.time()
            return outcome(tx["answer"] if done else "waiting")

    def admin_users(self, params):
        offset, limit = params.get("offset", "0"), params.get("limit", "100")
        for name, value in (("offset", offset), ("limit", limit)):
            if not value.isdigit():
                raise DuoError(40002, name)
        with self.lock:
            users = [self.admin_view(u) for u in self.users.values()
                     if not params.get("username") or u["username"] == params["username"]]
        start, end = int(offset), int(offset) + int(limit)
        metadata = {"total_objects": len(users)}
        if end < len(users):
            metadata["next_offset"] = end
        return users[start:end], metadata

    @staticmethod
    def admin_view(user):
        phones = [{"phone_id": d["device"], "number": d["raw_number"], "name": d["name"],
                   "type": "Mobile", "platform": d["platform"], "activated": True,
                   "capabilities": d["capabilities"], "extension": "", "sms_passcodes_sent": False}
                  for d in user["devices"] if d["type"] == "phone"]
        return {"user_id": user["user_id"], "username": user["username"],
                "realname": user["realname"], "email": user["email"], "status": user["status"],
                "is_enrolled": bool(user["devices"]), "phones": phones, "tokens": [],
                "groups": [], "notes": "", "created": user["created"], "last_login": None}

    # ---- state (call with the lock held) ----

    def new_user(self, spec, user_id=None):
        user = {"user_id": user_id or spec.get("user_id") or new_id("DU"),
                "username": spec["username"], "realname": spec.get("realname") or "",
                "email": spec.get("email") or "", "status": spec.get("status") or "active",
                "created": int(time.time()),
                "devices": [self.new_device(d) for d in spec.get("devices") or []]}
        self.users[user["user_id"]] = user
        return user

    @staticmethod
    def new_device(spec):
        number = spec.get("number") or "+15555550100"
        masked, platform = "XXX-XXX-" + number[-4:], spec.get("platform") or "Apple iOS"
        return {"device": spec.get("device") or new_id("DP"), "type": spec.get("type") or "phone",
                "capabilities": list(spec.get("capabilities") or MOBILE_CAPABILITIES),
                "name": spec.get("name") or "", "number": masked, "raw_number": number,
                "platform": platform,
                "display_name": spec.get("display_name") or f"{platform.split()[-1]} ({masked})"}

    def resolve(self, txid, answer):
        tx = self.transactions[txid]
        tx["answer"] = answer["answer"]
        tx["due"] = time.time() + int(answer.get("delay_ms") or 0) / 1000
        self.changed.notify_all()

    # ---- controls ----

    def control(self, method, rest, request):
        if method == "GET" and rest == "requests":
            with self.lock:
                return Reply(200, list(self.requests))
        body = request.json() if method == "POST" else None
        if not isinstance(body, dict):
            return Reply(400, {"error": "expected POST with a JSON object"})
        activate = re.fullmatch(r"enrollments/([^/]+)/activate", rest)
        with self.lock:
            if rest == "apps":
                if not body.get("ikey") or not body.get("skey"):
                    return Reply(400, {"error": "ikey and skey are required"})
                self.apps[body["ikey"]] = {"skey": body["skey"], "host": body.get("host"),
                                           "admin": bool(body.get("admin"))}
                return Reply(201, {"ikey": body["ikey"]})
            if rest == "users":
                if not body.get("username"):
                    return Reply(400, {"error": "username is required"})
                old = next((u for u in self.users.values() if u["username"] == body["username"]), None)
                if old:
                    del self.users[old["user_id"]]
                return Reply(201, self.admin_view(self.new_user(body, old and old["user_id"])))
            if activate:
                return self.activate(activate.group(1), body)
            user = next((u for u in self.users.values() if u["user_id"] == body.get("user_id")
                         or (body.get("username") and u["username"] == body["username"])), None)
            if user is None:
                return Reply(400, {"error": "unknown user"})
            if rest == "push":
                return self.answer_push(user, body)
            if rest == "passcodes" and body.get("passcode"):
                self.passcodes.setdefault(user["user_id"], []).append(str(body["passcode"]))
                return Reply(201, {"user_id": user["user_id"]})
        return Reply(404, {"error": f"no duo control {method} {rest}"})

    def activate(self, user_id, body):
        pending = [c for c, e in self.enrollments.items() if e["user_id"] == user_id and not e["done"]]
        if user_id not in self.users or not pending:
            return Reply(400, {"error": "no pending enrollment for that user"})
        self.enrollments[pending[-1]]["done"] = True
        device = self.new_device(body)
        self.users[user_id]["devices"].append(device)
        return Reply(200, {"user_id": user_id, "device": device["device"]})

    def answer_push(self, user, body):
        answer = {"answer": body.get("answer", "approve"), "delay_ms": body.get("delay_ms") or 0}
        if answer["answer"] not in ("approve", "deny", "timeout"):
            return Reply(400, {"error": "answer must be approve, deny or timeout"})
        pending = [t for t, tx in self.transactions.items()
                   if tx["user_id"] == user["user_id"] and tx["answer"] is None]
        if pending:
            self.resolve(pending[0], answer)
            return Reply(200, {"txid": pending[0]})
        self.push_answers.setdefault(user["user_id"], deque()).append(answer)
        return Reply(202, {"queued": True})
