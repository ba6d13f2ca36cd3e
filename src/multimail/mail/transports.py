"""Transports hand a composed message to the world.

`CaptureTransport` (the default) keeps the exact bytes and envelope in the database and sends
nothing: a zero-set-up server never emails anyone by accident. It writes inside the delivery
transaction, so "captured" and "marked sent" happen together or not at all.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert

from ..store.tables import captured_mail


class TemporaryFailure(Exception):
    """Try again later (4xx, connection refused, timeout)."""


class PermanentFailure(Exception):
    """Give up (5xx): the message is marked failed with this answer."""


class CaptureTransport:
    name = "capture"

    def deliver(self, tx: Connection, *, message_id: str, mail_from: str, rcpt_tos: list[str], raw: bytes, now: datetime) -> str:
        tx.execute(
            insert(captured_mail).values(
                message_id=message_id, mail_from=mail_from, rcpt_tos=rcpt_tos, raw=raw, captured_at=now
            )
        )
        return "captured"


def make_transport(name: str) -> CaptureTransport:
    if name == "capture":
        return CaptureTransport()
    raise ValueError(f"Unknown outbound transport {name!r}; this server supports: capture.")
