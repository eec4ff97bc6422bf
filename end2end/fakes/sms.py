"""Fake SMS gateways: Twilio's Messages API and a generic JSON webhook (authentik's "generic"
SMS provider).

Twilio — `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, `application/x-www-form-urlencoded`
`To`, `From`, `Body` (other fields are ignored), HTTP Basic auth with the Account SID as the
username and the auth token as the password. It answers like Twilio: 201 with a Message resource
(`sid` "SM" + 32 hex, `account_sid`, `to`, `from`, `body`, `status` "queued", `date_created` in
RFC 2822, `uri`, `num_segments` and `num_media` as strings, `direction` "outbound-api",
`api_version` "2010-04-01", `error_code`/`error_message`/`price`/`date_sent` null, ...). Refusals
use Twilio's REST error body `{"code", "message", "more_info":
"https://www.twilio.com/docs/errors/<code>", "status"}`:

| status | code  | when |
|--------|-------|------|
| 401    | 20003 | no/malformed Basic auth, unknown SID or wrong token (`WWW-Authenticate` is sent) |
| 404    | 20404 | the path names an account other than the authenticated one |
| 405    | 20004 | any method but POST (listing messages is not faked) |
| 400    | 21604 | no `To` — also what a JSON (non-form) body gets, as Twilio only reads form fields |
| 400    | 21211 | `To` is not E.164 (`+`, then 8-15 digits, the first not 0) |
| 400    | 21603 | no `From` (nor `MessagingServiceSid`) |
| 400    | 21212 | `From` is neither E.164, a 5-6 digit short code, nor an alphanumeric sender ID |
| 400    | 21602 | `Body` missing or empty |
| 400    | 21617 | `Body` longer than 1600 characters |
| 400    | 21614 | `To` is a number the test marked as a landline |

Webhook — `POST /sms/webhook`, a JSON body (by default authentik sends `{"From", "To", "Body",
"Message"}`, but an admin's mapping may reshape it, so any JSON is recorded as received) with
either HTTP Basic auth or `Authorization: Bearer <token>`, as the test configured it. Wrong or
missing auth → 401 (plain text); a body that is not JSON (or not sent as `application/json`) → 400
(plain text); otherwise 200 `{"ok": true}`. Until configured it answers 503.

Test controls (JSON):
- `POST /_fake/sms/twilio/accounts` `{"sid", "token", "landlines": [..], "fail_status",
  "delay_ms"}` registers or replaces an account. `fail_status` (e.g. 500) makes sends with valid
  credentials answer that status with an HTML page; `delay_ms` holds every answer back.
- `POST /_fake/sms/webhook` `{"auth": "basic"|"bearer", "username", "password", "token",
  "fail_status": null|int, "delay_ms"}` configures the webhook.
- `GET /_fake/sms/messages` → every send, accepted or refused, in order: `{"gateway":
  "twilio"|"webhook", "to", "from", "body", "json" (the webhook body), "status" (the HTTP status
  answered), "auth_ok", "code" (Twilio error code or null), "sid" (of an accepted Twilio
  message)}`. Tokens and passwords are never echoed.
"""

import base64
import binascii
import json
import re
import secrets
import threading
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs

from serve_types import Reply

TWILIO_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
SHORT_CODE = re.compile(r"^[0-9]{5,6}$")
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
MAX_BODY = 1600
# GSM 03.38 basic set; characters of its extension table take two septets.
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


def rfc2822_now():
    return datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")


def segments(body):
    """How many SMS parts Twilio bills `body` as (GSM-7: 160/153, else UCS-2: 70/67)."""
    if all(c in GSM7 or c in GSM7_EXTENDED for c in body):
        length = sum(2 if c in GSM7_EXTENDED else 1 for c in body)
        single, part = 160, 153
    else:
        length = sum(2 if ord(c) > 0xFFFF else 1 for c in body)
        single, part = 70, 67
    return 1 if length <= single else -(-length // part)


def basic_credentials(header):
    """`Authorization: Basic ...` → (username, password), or None."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (username, password) if sep else None


def same(a, b):
    """Constant-time string comparison that also copes with non-ASCII text."""
    return secrets.compare_digest(str(a).encode(), str(b).encode())


def twilio_error(status, code, message, headers=None):
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Reply(status, body, headers=headers)


class Sms:
    def __init__(self):
        self.lock = threading.Lock()
        self.accounts = {}  # sid -> {"token", "landlines", "fail_status", "delay_ms"}
        self.webhook = None  # settings, once configured
        self.messages = []

    def handle(self, request):
        path = request.path
        if path == "/_fake/sms/twilio/accounts" and request.method == "POST":
            return self.register_account(request.json())
        if path == "/_fake/sms/webhook" and request.method == "POST":
            return self.configure_webhook(request.json())
        if path == "/_fake/sms/messages" and request.method == "GET":
            with self.lock:
                return Reply(200, list(self.messages))
        match = TWILIO_PATH.match(path)
        if match:
            return self.twilio(match.group(1), request)
        if path == "/sms/webhook":
            return self.webhook_send(request)
        return None

    # ---- controls ----

    def register_account(self, body):
        if not isinstance(body, dict) or not body.get("sid") or not body.get("token"):
            return Reply(400, {"error": "sid and token are required"})
        with self.lock:
            self.accounts[body["sid"]] = {
                "token": body["token"],
                "landlines": set(body.get("landlines") or []),
                "fail_status": body.get("fail_status"),
                "delay_ms": int(body.get("delay_ms") or 0),
            }
        return Reply(201, {"sid": body["sid"]})

    def configure_webhook(self, body):
        if not isinstance(body, dict) or body.get("auth") not in ("basic", "bearer"):
            return Reply(400, {"error": "auth must be basic or bearer"})
        if body["auth"] == "basic" and body.get("username") is None:
            return Reply(400, {"error": "basic auth needs username (and password)"})
        if body["auth"] == "bearer" and not body.get("token"):
            return Reply(400, {"error": "bearer auth needs token"})
        with self.lock:
            self.webhook = {
                "auth": body["auth"],
                "username": body.get("username"),
                "password": body.get("password") or "",
                "token": body.get("token"),
                "fail_status": body.get("fail_status"),
                "delay_ms": int(body.get("delay_ms") or 0),
            }
        return Reply(201, {"auth": body["auth"]})

    def record(self, gateway, fields, status, auth_ok, json_body=None, code=None, sid=None):
        fields = fields or {}
        with self.lock:
            self.messages.append(
                {
                    "gateway": gateway,
                    "to": fields.get("To"),
                    "from": fields.get("From"),
                    "body": fields.get("Body"),
                    "json": json_body,
                    "status": status,
                    "auth_ok": auth_ok,
                    "code": code,
                    "sid": sid,
                }
            )

    # ---- Twilio ----

    def twilio(self, path_sid, request):
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        fields = {}
        if content_type == "application/x-www-form-urlencoded":
            try:
                decoded = request.body.decode("utf-8")
            except UnicodeDecodeError:
                decoded = ""
            fields = {k: v[0] for k, v in parse_qs(decoded, keep_blank_values=True).items()}
        credentials = basic_credentials(request.headers.get("Authorization"))
        with self.lock:
            account = self.accounts.get(credentials[0]) if credentials else None
            auth_ok = bool(account) and same(account["token"], credentials[1])
            account = dict(account) if auth_ok else None
        if account and account["delay_ms"]:
            time.sleep(account["delay_ms"] / 1000)
        reply, code, sid = self.twilio_answer(path_sid, request, credentials, account, fields)
        self.record("twilio", fields, reply.status, auth_ok, code=code, sid=sid)
        return reply

    def twilio_answer(self, path_sid, request, credentials, account, fields):
        """→ (reply, Twilio error code or None, message sid or None)."""
        if account is None:
            realm = {"WWW-Authenticate": 'Basic realm="Twilio API"'}
            return twilio_error(401, 20003, "Authenticate", realm), 20003, None
        if credentials[0] != path_sid:
            missing = f"The requested resource {request.path} was not found"
            return twilio_error(404, 20404, missing), 20404, None
        if request.method != "POST":
            return twilio_error(405, 20004, "Method not allowed"), 20004, None
        if account["fail_status"]:
            page = "<html><body><h1>Service Unavailable</h1></body></html>"
            return Reply(int(account["fail_status"]), page, "text/html"), None, None
        to, sender, body = fields.get("To"), fields.get("From"), fields.get("Body")
        for failed, code, message in (
            (not to, 21604, "A 'To' phone number is required."),
            (to and not E164.match(to), 21211, f"The 'To' number {to} is not a valid phone number."),
            (not sender and not fields.get("MessagingServiceSid"), 21603,
             "A 'From' phone number is required."),
            (sender and not (E164.match(sender) or SHORT_CODE.match(sender)
                             or ALPHANUMERIC_SENDER.match(sender)), 21212,
             f"The 'From' number {sender} is not a valid phone number, shortcode, "
             "or alphanumeric sender ID."),
            (not body, 21602, "Message body is required."),
            (body and len(body) > MAX_BODY, 21617,
             "The concatenated message body exceeds the 1600 character limit."),
            (to in account["landlines"], 21614, f"'To' number {to} is not a valid mobile number"),
        ):
            if failed:
                return twilio_error(400, code, message), code, None
        sid = "SM" + secrets.token_hex(16)
        uri = f"/2010-04-01/Accounts/{path_sid}/Messages/{sid}.json"
        now = rfc2822_now()
        message = {
            "account_sid": path_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": fields.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": str(segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": to,
            "uri": uri,
        }
        return Reply(201, message), None, sid

    # ---- generic webhook ----

    def webhook_send(self, request):
        with self.lock:
            settings = dict(self.webhook) if self.webhook else None
        if settings and settings["delay_ms"]:
            time.sleep(settings["delay_ms"] / 1000)
        if request.method != "POST":
            return Reply(405, "method not allowed\n", "text/plain")
        body, is_json = None, False
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type == "application/json":
            try:
                body, is_json = json.loads(request.body), True
            except ValueError:
                pass
        fields = body if isinstance(body, dict) else {}
        if settings is None:
            self.record("webhook", fields, 503, False, body)
            return Reply(503, "webhook not configured\n", "text/plain")
        auth_ok = self.webhook_auth_ok(settings, request.headers.get("Authorization"))
        if not auth_ok:
            status, answer = 401, Reply(401, "unauthorized\n", "text/plain")
        elif not is_json:
            status, answer = 400, Reply(400, "request body must be JSON\n", "text/plain")
        elif settings["fail_status"]:
            status = int(settings["fail_status"])
            answer = Reply(status, "webhook failure\n", "text/plain")
        else:
            status, answer = 200, Reply(200, {"ok": True})
        self.record("webhook", fields, status, auth_ok, body)
        return answer

    @staticmethod
    def webhook_auth_ok(settings, header):
        if settings["auth"] == "basic":
            credentials = basic_credentials(header)
            return bool(credentials) and all(
                [same(credentials[0], settings["username"]), same(credentials[1], settings["password"])]
            )
        scheme, _, token = (header or "").partition(" ")
        return scheme.lower() == "bearer" and same(token.strip(), settings["token"])
