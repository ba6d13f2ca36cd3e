"""The SMTP baseline: aiosmtpd with a handler that accepts every message and does nothing.

    python benchmarks/_smtp_sink.py --port 2526
"""

from __future__ import annotations

import argparse
import asyncio

from aiosmtpd.smtp import SMTP


class Sink:
    async def handle_DATA(self, server, session, envelope) -> str:
        return "250 OK"


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(lambda: SMTP(Sink(), hostname="sink.test", decode_data=False,
                                               data_size_limit=30 * 1024 * 1024), "127.0.0.1", port)
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    asyncio.run(serve(ap.parse_args().port))
