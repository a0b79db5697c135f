#!/usr/bin/env python3
"""A real SMTP server on loopback for the mail tests (aiosmtpd): every
message it accepts is written to FOLDER as <n>.eml, first to a temporary
name and then renamed, so a reader never sees half a message.

    smtp_sink.py --port 2525 --folder /tmp/mail

Prints "ready" once it accepts connections; stops on SIGTERM or SIGINT.
Run it with tools/venv/bin/python (scripts/setup.sh test installs aiosmtpd).
"""
import argparse
import itertools
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class Folder:
    def __init__(self, folder):
        self.folder = folder
        self.numbers = itertools.count(1)
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            number = next(self.numbers)
        path = os.path.join(self.folder, f"{number:06}.eml")
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode()
        envelope_lines = "".join(f"X-Envelope-To: {rcpt}\r\n" for rcpt in envelope.rcpt_tos)
        with open(path + ".part", "wb") as out:
            out.write(f"X-Envelope-From: {envelope.mail_from}\r\n".encode())
            out.write(envelope_lines.encode())
            out.write(content)
        os.rename(path + ".part", path)
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--folder", required=True)
    args = parser.parse_args()
    os.makedirs(args.folder, exist_ok=True)
    controller = Controller(Folder(args.folder), hostname="127.0.0.1", port=args.port)
    controller.start()
    print("ready", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    controller.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
