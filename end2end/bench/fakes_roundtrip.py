"""Round trips of the fake outside services (end2end/fakes/), run by hand:

    .venv/bin/python end2end/bench/fakes_roundtrip.py [--requests 200]

Starts serve.py on a free port and times, one request at a time over a kept-alive connection,
the calls keyflow makes: captcha siteverify (a fresh token each time), a Twilio message, a
generic webhook SMS, a signed Duo `/auth/v2/check` and `/auth/v2/enroll_status`. Prints the
median and p99 per call in milliseconds: the floor any stage that talks to these services
adds to a response in the tests.
"""

import argparse
import base64
import email.utils
import http.client
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

FAKES = Path(__file__).resolve().parent.parent / "fakes"
sys.path.insert(0, str(FAKES))
import duo  # noqa: E402

SID = "AC" + "0" * 32
TOKEN = "twilio-token"
IKEY, SKEY = "DIBENCH00000000000000", "bench-secret-key"


def start():
    proc = subprocess.Popen([sys.executable, str(FAKES / "serve.py"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        raise SystemExit(f"the fakes did not start: {line!r}")
    return proc, int(line.split()[1])


class Client:
    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port)

    def call(self, method, path, body=None, headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        data = response.read()
        return response.status, data

    def json(self, method, path, payload):
        status, data = self.call(method, path, json.dumps(payload), {"Content-Type": "application/json"})
        return status, json.loads(data or b"null")


def timed(label, n, once):
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        once()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"| {label:<34} | {statistics.median(samples):8.2f} | {p99:8.2f} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    n = parser.parse_args().requests
    proc, port = start()
    try:
        client = Client(port)
        host = f"127.0.0.1:{port}"
        client.json("POST", "/_fake/captcha/sites", {"site_key": "bench", "secret": "s"})
        client.json("POST", "/_fake/sms/twilio/accounts", {"sid": SID, "token": TOKEN})
        client.json("POST", "/_fake/sms/webhook", {"auth": "bearer", "token": "hook"})
        client.json("POST", "/_fake/duo/apps", {"ikey": IKEY, "skey": SKEY, "host": host})
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        twilio_auth = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()

        def siteverify():
            _, answer = client.json("POST", "/_fake/captcha/tokens", {"site_key": "bench"})
            body = urlencode({"secret": "s", "response": answer["token"], "remoteip": "127.0.0.1"})
            assert client.call("POST", "/recaptcha/api/siteverify", body, form)[0] == 200

        def twilio():
            body = urlencode({"To": "+15552223333", "From": "+15550001111", "Body": "Code: 123456"})
            headers = dict(form, Authorization=twilio_auth)
            path = f"/2010-04-01/Accounts/{SID}/Messages.json"
            assert client.call("POST", path, body, headers)[0] == 201

        def webhook():
            body = json.dumps({"From": "+1555", "To": "+15552223333", "Body": "123456", "Message": "x"})
            headers = {"Content-Type": "application/json", "Authorization": "Bearer hook"}
            assert client.call("POST", "/sms/webhook", body, headers)[0] == 200

        def duo_signed(method, path, params):
            date = email.utils.formatdate()
            auth = duo.authorization(IKEY, SKEY, method, host, path, params, date)
            headers = {"Date": date, "Authorization": auth}
            if method == "GET":
                query = duo.canon_params(params)
                return client.call("GET", f"{path}?{query}" if query else path, None, headers)
            return client.call(method, path, duo.canon_params(params), dict(headers, **form))

        _, enrolled = duo_signed("POST", "/auth/v2/enroll", {"username": "bench"})
        enrollment = json.loads(enrolled)["response"]

        print(f"fake round trips, {n} sequential requests each (ms)\n")
        print(f"| {'call':<34} | {'median':>8} | {'p99':>8} |")
        print(f"|{'-' * 36}|{'-' * 10}|{'-' * 10}|")
        timed("captcha: token + siteverify", n, siteverify)
        timed("Twilio: Messages.json", n, twilio)
        timed("SMS webhook (bearer)", n, webhook)
        timed("Duo: GET /auth/v2/check (signed)", n,
              lambda: duo_signed("GET", "/auth/v2/check", {}))
        timed("Duo: POST /auth/v2/enroll_status", n,
              lambda: duo_signed("POST", "/auth/v2/enroll_status",
                                 {"user_id": enrollment["user_id"],
                                  "activation_code": enrollment["activation_code"]}))
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
