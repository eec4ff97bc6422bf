"""The request and reply shapes the fake services share (see serve.py)."""

import json
from urllib.parse import urlsplit


class Request:
    """What a service handler sees of one request."""

    def __init__(self, handler, method):
        parts = urlsplit(handler.path)
        self.method = method
        self.path = parts.path
        self.query = parts.query
        self.headers = handler.headers
        length = int(handler.headers.get("Content-Length") or 0)
        self.body = handler.rfile.read(length) if length else b""
        self.client = handler.client_address[0]

    def json(self):
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            return None


class Reply:
    def __init__(self, status, body, content_type="application/json", headers=None):
        self.status = status
        self.body = body if isinstance(body, bytes) else (
            json.dumps(body).encode() if content_type == "application/json" else body.encode()
        )
        self.content_type = content_type
        self.headers = headers or {}
