"""A small SMTP server for tests: accepts every message and writes it to a directory.

    python end2end/smtp_sink.py --port 2525 --dir /tmp/mails [--host 127.0.0.1]

Each accepted message becomes `<nanoseconds since 1970>-<uuid>.json` in the directory (written to a temporary name
and renamed, so a reader never sees half a file):

    {"mail_from": "...", "rcpt_tos": ["..."], "raw": "<the message as received>",
     "headers": [["From", "..."], ...], "text": "<text/plain part or null>",
     "html": "<text/html part or null>"}

Once listening it prints `READY <port>` on stdout. It offers no STARTTLS and no AUTH, so a
client that requires STARTTLS fails to deliver. It stops on SIGTERM or SIGINT.
"""

import argparse
import email
import email.policy
import json
import os
import signal
import threading
import time
import uuid

from aiosmtpd.controller import Controller


def body_part(message, subtype):
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    return part.get_content()


class Sink:
    def __init__(self, directory):
        self.directory = directory

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "raw": raw.decode("utf-8", errors="replace"),
            "headers": [[name, str(value)] for name, value in message.items()],
            "text": body_part(message, "plain"),
            "html": body_part(message, "html"),
        }
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex}.json"
        temporary = os.path.join(self.directory, f".{name}.tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        os.replace(temporary, os.path.join(self.directory, name))
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    controller = Controller(Sink(args.dir), hostname=args.host, port=args.port)
    controller.start()
    print(f"READY {args.port}", flush=True)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
