"""An SMTP server for the e-mail tests: aiosmtpd (PyPI), which shares no code with lettre.

Usage: python3 smtp_sink.py [PORT]   (PORT 0 or absent: a free port)

Prints one JSON line {"listening": PORT} once it accepts connections, then one JSON line per
message received: envelope (mail_from, rcpt_tos), every header (decoded), the content type and
charset, and the plain-text body decoded from its transfer encoding. Exits when its stdin closes,
so it never outlives the test that started it.
"""

import asyncio
import json
import os
import sys
import threading
from email import policy
from email.parser import BytesParser

from aiosmtpd.smtp import SMTP


class Sink:
    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        part = msg.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {k.lower(): str(v) for k, v in msg.items()},
            "content_type": msg.get_content_type(),
            "charset": msg.get_content_charset(),
            "transfer_encoding": msg.get("content-transfer-encoding"),
            "body": part.get_content() if part is not None else None,
        }
        print(json.dumps(record, ensure_ascii=False), flush=True)
        return "250 Message accepted"


def exit_when_stdin_closes():
    sys.stdin.read()
    os._exit(0)


async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Sink(), hostname="sink.test", enable_SMTPUTF8=True), "127.0.0.1", port
    )
    print(json.dumps({"listening": server.sockets[0].getsockname()[1]}), flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    asyncio.run(main())
