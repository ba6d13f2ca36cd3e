"""Verifying and exporting the hash-chained audit trail (`multimail audit verify | export`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TextIO

from ..core.audit_chain import verify_chain
from ..store import records
from .context import Context
from .views import audit_item


def verify(ctx: Context) -> dict[str, Any]:
    """Walk the whole chain; `ok` false names the first event where it breaks."""
    with ctx.store.read() as tx:
        # The head first: every event up to it is committed (appends are serialised), and events
        # other processes append while we walk are simply not part of this check.
        head = records.chain_head(tx)
        upto = head["seq"] if head else None
        count, broken = verify_chain(records.chain_rows(tx, upto_seq=upto), head)
        stray = records.first_beyond_head(tx) if broken is None else None
    if stray is not None:
        return {"ok": False, "events_checked": count, "first_bad_seq": stray["seq"], "first_bad_event_id": stray["id"],
                "reason": "it is not part of the chain (written without moving the recorded head: inserted)"}
    if broken is None:
        return {"ok": True, "events": count}
    return {"ok": False, "events_checked": count, "first_bad_seq": broken.seq, "first_bad_event_id": broken.event_id,
            "reason": broken.reason}


def export(ctx: Context, *, since: datetime | None, until: datetime | None, out: TextIO) -> int:
    """Write audit events as JSON Lines, oldest first, with their chain hashes; returns the count."""
    n = 0
    for item in _items(ctx, since=since, until=until):
        out.write(json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n")
        n += 1
    return n


def _items(ctx: Context, *, since: datetime | None, until: datetime | None) -> Iterator[dict[str, Any]]:
    with ctx.store.read() as tx:
        for row in records.chain_rows(tx):
            if since is not None and row["at"] < since:
                continue
            if until is not None and row["at"] >= until:
                continue
            yield {**audit_item(row), "seq": row["seq"], "prev_hash": row["prev_hash"], "hash": row["hash"]}
