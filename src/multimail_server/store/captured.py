"""Queries for capture mode's record of what would have been sent (the exact bytes and envelope)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert

from .tables import captured_mail


def capture(tx: Connection, *, message_id: str, mail_from: str, rcpt_tos: list[str], raw: bytes, now: datetime) -> None:
    tx.execute(insert(captured_mail), {"message_id": message_id, "mail_from": mail_from, "rcpt_tos": rcpt_tos, "raw": raw,
                                       "captured_at": now})
