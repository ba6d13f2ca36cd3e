"""The audit trail's hash chain: each event carries the hash of the one before it.

An edited event no longer matches its own hash; a deleted or inserted event breaks the link to
its neighbour; a truncated tail no longer matches the recorded head. `verify_chain` names the
first event where the chain breaks. Hashes cover a canonical JSON form of the event, so they do
not depend on the database or on key order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
CHAINED_FIELDS = (
    "id",
    "at",
    "actor_key_id",
    "actor_role",
    "mailbox_id",
    "mailbox_address",
    "action",
    "message_id",
    "oversight_mode",
    "approval_status",
    "details",
)


def canonical_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_details(details: Any) -> Any:
    """What the database will give back for `details`: plain JSON types only."""
    return json.loads(json.dumps(details or {}, default=str, sort_keys=True))


def event_hash(prev_hash: str, event: dict[str, Any]) -> str:
    body = {f: event.get(f) for f in CHAINED_FIELDS}
    body["at"] = canonical_time(event["at"])
    body["details"] = canonical_details(event.get("details"))
    body["prev_hash"] = prev_hash
    data = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    seq: int | None
    event_id: str | None
    reason: str


def verify_chain(events: Iterable[dict[str, Any]], head: dict[str, Any] | None) -> tuple[int, ChainBreak | None]:
    """Walk events in `seq` order; return how many were checked and the first break, if any.

    `head` is the recorded last hash and count (None when nothing was ever recorded)."""
    prev = GENESIS
    count = 0
    last_seq = None
    for ev in events:
        count += 1
        if ev["prev_hash"] != prev:
            return count, ChainBreak(ev["seq"], ev["id"], "does not link to the event before it (an event was deleted or inserted)")
        if event_hash(prev, ev) != ev["hash"]:
            return count, ChainBreak(ev["seq"], ev["id"], "its content does not match its hash (it was edited)")
        prev = ev["hash"]
        last_seq = ev["seq"]
    if head is None:
        if count:
            return count, ChainBreak(None, None, "events exist but no chain head was recorded")
        return count, None
    if head["hash"] != prev or head["count"] != count:
        return count, ChainBreak(
            last_seq, None, f"the chain ends at event {count} but the recorded head says {head['count']} events (events were removed from the end)"
        )
    return count, None
