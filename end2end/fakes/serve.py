"""Local stand-ins for the outside services keyflow's stages call, for tests only.

    python end2end/fakes/serve.py --port 0 [--host 127.0.0.1]

One HTTP server (stdlib only) with one module per service; each follows the service's
documented wire format and rejects what the real service would reject:

- `captcha`: reCAPTCHA v2/v3, hCaptcha and Turnstile — the widget script (`js_url`) and the
  server-side `siteverify` (`api_url`). See captcha.py.
- `sms`: Twilio's Messages API and a generic JSON webhook (authentik's "generic" SMS provider).
  See sms.py.
- `duo`: the Duo Auth API v2 (signed requests) and the Admin API's user lookup. See duo.py.

Tests set a fake up and read what it saw through `/_fake/<service>/...` (JSON). Once listening
it prints `READY <port>` on stdout; it stops on SIGTERM or SIGINT.
"""

import argparse
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import captcha
import duo
import sms
from serve_types import Reply, Request

SERVICES = [captcha.Captcha(), sms.Sms(), duo.Duo()]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for the
    # client's delayed ACK (~40 ms on Linux) on every kept-alive request.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        sys.stderr.write("fake: " + (fmt % args) + "\n")

    def handle_any(self, method):
        request = Request(self, method)
        reply = None
        for service in SERVICES:
            reply = service.handle(request)
            if reply is not None:
                break
        if reply is None:
            reply = Reply(404, {"error": f"no fake answers {method} {request.path}"})
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        # The widget script fetches tokens from the fake's origin, as the real widgets do from
        # their own servers.
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def do_OPTIONS(self):
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.send_header("Access-Control-Allow-Methods", "GET, POST")
        self.send_header("Content-Length", "0")
        self.end_headers()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"READY {server.server_address[1]}", flush=True)
    stop.wait()
    server.shutdown()


if __name__ == "__main__":
    main()
