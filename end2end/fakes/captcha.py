"""Fake captcha providers: reCAPTCHA (v2 and v3), hCaptcha and Cloudflare Turnstile.

Served per provider, under the paths the real services use:

| provider  | js_url                 | api_url (siteverify)           | duplicate / expired token |
|-----------|------------------------|--------------------------------|---------------------------|
| recaptcha | /recaptcha/api.js      | /recaptcha/api/siteverify      | timeout-or-duplicate      |
| hcaptcha  | /hcaptcha/1/api.js     | /hcaptcha/siteverify           | already-seen-response / expired-input-response |
| turnstile | /turnstile/v0/api.js   | /turnstile/v0/siteverify       | timeout-or-duplicate      |

siteverify takes `application/x-www-form-urlencoded` `secret`, `response` and optional
`remoteip` (Turnstile also JSON), and answers `{"success", "challenge_ts", "hostname",
"error-codes"}`, plus `score` and `action` for reCAPTCHA v3 sites. It refuses what the real
services refuse: no or unknown secret (`missing-input-secret`, `invalid-input-secret`), no token
(`missing-input-response`), a token it never issued or issued for another site's key
(`invalid-input-response`), a token used twice or older than its lifetime, another body
encoding (`bad-request`). Every verification is recorded.

The script behaves like the provider's widget: a global (`grecaptcha`, `hcaptcha`, `turnstile`)
with `ready`, `render(container, {sitekey, callback, size})`, `execute`, `getResponse` and
`reset`. A visible widget is an "I'm not a robot" checkbox; a click (or `execute` on an
invisible one) fetches a token for its site key from this server and hands it to `callback`.

Test controls (JSON):
- `POST /_fake/captcha/sites` `{"site_key", "secret", "provider", "version": 2|3, "score",
  "action", "delay_ms", "broken"}` registers or replaces a site. `delay_ms` holds siteverify
  answers back (timeouts); `broken` makes siteverify answer an HTML 502 page.
- `POST /_fake/captcha/tokens` `{"site_key", "action"}` → `{"token"}` (what the widget does).
- `GET /_fake/captcha/verifications` → every siteverify call: `{"provider", "path",
  "site_key" (of the secret, or null), "secret_ok", "response", "remoteip", "answer"}` (the secret itself is never echoed).
"""

import json
import secrets
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs

from serve_types import Reply

PROVIDERS = {
    "recaptcha": {
        "js": "/recaptcha/api.js",
        "verify": "/recaptcha/api/siteverify",
        "global": "grecaptcha",
        "lifetime": 120,
        "duplicate": "timeout-or-duplicate",
        "expired": "timeout-or-duplicate",
        "json_body": False,
    },
    "hcaptcha": {
        "js": "/hcaptcha/1/api.js",
        "verify": "/hcaptcha/siteverify",
        "global": "hcaptcha",
        "lifetime": 120,
        "duplicate": "already-seen-response",
        "expired": "expired-input-response",
        "json_body": False,
    },
    "turnstile": {
        "js": "/turnstile/v0/api.js",
        "verify": "/turnstile/v0/siteverify",
        "global": "turnstile",
        "lifetime": 300,
        "duplicate": "timeout-or-duplicate",
        "expired": "timeout-or-duplicate",
        "json_body": True,
    },
}

WIDGET = (Path(__file__).parent / "captcha_widget.js").read_text()


def now_iso():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Captcha:
    def __init__(self):
        self.lock = threading.Lock()
        self.sites = {}  # site_key -> settings
        self.tokens = {}  # token -> {"site_key", "issued", "used", "action", "hostname"}
        self.verifications = []

    def handle(self, request):
        path = request.path
        if path == "/_fake/captcha/sites" and request.method == "POST":
            return self.register(request.json())
        if path == "/_fake/captcha/tokens" and request.method == "POST":
            return self.issue(request.json())
        if path == "/_fake/captcha/verifications" and request.method == "GET":
            with self.lock:
                return Reply(200, list(self.verifications))
        for name, provider in PROVIDERS.items():
            if path == provider["js"] and request.method == "GET":
                script = WIDGET.replace("__GLOBAL__", provider["global"])
                return Reply(200, script, "text/javascript")
            if path == provider["verify"]:
                return self.verify(name, provider, request)
        return None

    def register(self, body):
        if not isinstance(body, dict) or not body.get("site_key") or not body.get("secret"):
            return Reply(400, {"error": "site_key and secret are required"})
        provider = body.get("provider", "recaptcha")
        if provider not in PROVIDERS:
            return Reply(400, {"error": f"unknown provider {provider}"})
        with self.lock:
            self.sites[body["site_key"]] = {
                "secret": body["secret"],
                "provider": provider,
                "version": int(body.get("version", 2)),
                "score": body.get("score", 0.9),
                "action": body.get("action"),
                "delay_ms": int(body.get("delay_ms", 0)),
                "broken": bool(body.get("broken", False)),
            }
        return Reply(201, {"site_key": body["site_key"]})

    def issue(self, body):
        site_key = (body or {}).get("site_key") if isinstance(body, dict) else None
        with self.lock:
            if site_key not in self.sites:
                return Reply(400, {"error": "unknown site key"})
            token = f"{self.sites[site_key]['provider']}.{secrets.token_urlsafe(32)}"
            self.tokens[token] = {
                "site_key": site_key,
                "issued": time.time(),
                "used": False,
                "action": body.get("action"),
            }
        return Reply(200, {"token": token})

    def verify(self, name, provider, request):
        if request.method != "POST":
            return Reply(405, {"error": "method not allowed"})
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type == "application/x-www-form-urlencoded":
            fields = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        elif content_type == "application/json" and provider["json_body"]:
            fields = request.json()
            fields = fields if isinstance(fields, dict) else None
        else:
            fields = None
        secret = (fields or {}).get("secret") or ""
        site = None
        with self.lock:
            for key, candidate in self.sites.items():
                if candidate["provider"] == name and secrets.compare_digest(candidate["secret"], secret):
                    site = (key, candidate)
        if site and site[1]["delay_ms"]:
            time.sleep(site[1]["delay_ms"] / 1000)
        if site and site[1]["broken"]:
            self.record(name, request, fields, site, "502 page")
            return Reply(502, "<html><body>Bad gateway</body></html>", "text/html")
        answer = self.judge(name, provider, fields, site)
        self.record(name, request, fields, site, answer)
        return Reply(200, answer)

    def judge(self, name, provider, fields, site):
        def failure(code):
            return {"success": False, "error-codes": [code]}

        if fields is None:
            return failure("bad-request")
        if not fields.get("secret"):
            return failure("missing-input-secret")
        if site is None:
            return failure("invalid-input-secret")
        token = fields.get("response")
        if not token:
            return failure("missing-input-response")
        site_key, settings = site
        with self.lock:
            issued = self.tokens.get(token)
            if issued is None or issued["site_key"] != site_key:
                return failure("invalid-input-response")
            if issued["used"]:
                return failure(provider["duplicate"])
            issued["used"] = True
            if time.time() - issued["issued"] > provider["lifetime"]:
                return failure(provider["expired"])
        answer = {
            "success": True,
            "challenge_ts": now_iso(),
            "hostname": "localhost",
            "error-codes": [],
        }
        if name == "recaptcha" and settings["version"] == 3:
            answer["score"] = settings["score"]
            answer["action"] = issued.get("action") or settings["action"] or "submit"
        return answer

    def record(self, name, request, fields, site, answer):
        with self.lock:
            self.verifications.append(
                {
                    "provider": name,
                    "path": request.path,
                    "site_key": site[0] if site else None,
                    "secret_ok": site is not None,
                    "response": (fields or {}).get("response"),
                    "remoteip": (fields or {}).get("remoteip"),
                    "answer": answer,
                }
            )
