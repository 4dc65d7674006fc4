#!/usr/bin/env python3
"""A local SMTP sink for the tests (aiosmtpd): every message it receives is written to DIR as
N.eml (the raw bytes) and N.json (envelope sender and recipients, the decoded To, From and
Subject headers and the decoded text body), each file renamed into place once complete.

    python3 tests/scripts/smtp_sink.py --port 0 --dir DIR [--tls-cert PEM --tls-key PEM]

With --tls-cert and --tls-key it offers STARTTLS and requires it before MAIL; each N.json then
says whether its session was encrypted ("tls").

Prints "listening PORT" on stdout once it accepts connections (port 0: any free port), and
runs until it is killed or its standard input closes.
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    def _write(self, name, data):
        tmp = os.path.join(self.directory, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(self.directory, name))

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        n = self.count
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        summary = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "to": str(msg["To"]),
            "from": str(msg["From"]),
            "subject": str(msg["Subject"]),
            "content_type": msg.get_content_type(),
            "tls": session.ssl is not None,
            "body": body.get_content() if body is not None else "",
        }
        self._write("%d.eml" % n, raw)
        self._write("%d.json" % n, json.dumps(summary, ensure_ascii=False).encode("utf-8"))
        return "250 OK"


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args()
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    os.makedirs(args.dir, exist_ok=True)
    sink = Sink(args.dir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            sink,
            hostname="sink.test",
            enable_SMTPUTF8=True,
            tls_context=tls,
            require_starttls=tls is not None,
        ),
        args.host,
        args.port,
    )
    port = server.sockets[0].getsockname()[1]
    print("listening %d" % port, flush=True)
    # Stop when the test's end of the pipe closes (the test ended, even by a panic).
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
