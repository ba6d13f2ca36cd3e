"""Idempotency: explicit keys and the implicit window for identical requests.

A Prefect task that times out after the server accepted its send will retry; without this the
recipient gets the mail twice. Two layers, as in the API reference:
- an explicit key (`Idempotency-Key` header or `idempotency_key` field) pins the answer for 24 h;
  the same key with a different body is a 409;
- without one, an identical request (same key, mailbox, recipients, content, oversight mode)
  within the mailbox's window returns the message the first one created.
Both become one slot name per (api key, slot) that the store makes unique, so concurrent
identical requests serialise on the database, across processes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .errors import BadRequest

EXPLICIT_KEY_TTL_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 256


def validate_key(key: str) -> str:
    """1–256 printable ASCII characters (space to tilde), per the API reference."""
    if not isinstance(key, str) or not (1 <= len(key) <= MAX_KEY_LENGTH) or any(
        not (0x20 <= ord(c) <= 0x7E) for c in key
    ):
        raise BadRequest(
            "Idempotency key must be 1-256 printable ASCII characters.",
            code="invalid_idempotency_key",
            details={"field": "idempotency_key"},
        )
    return key


def _canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    # A set's iteration order depends on the process's hash seed, so `str(set)` would give two
    # server processes sharing one database different fingerprints for the same request.
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=_canonical)
    return str(value)


def fingerprint(payload: Any) -> str:
    """A stable hash of a JSON-like payload (key order and whitespace do not matter).

    Stable across processes too: the slot it names is shared by every server process.
    """
    return hashlib.sha256(_canonical(payload).encode("utf-8")).hexdigest()


def request_fingerprint(request: dict[str, Any]) -> str:
    """What an explicit idempotency key pins: the request, less `metadata.prefect`.

    That part is bookkeeping about the attempt, not about the message: a Prefect flow run that is
    retried sends the same message under the same key from a new task run, so its
    `metadata.prefect.task_run_id` differs. Counting it would turn the retry into a 409 instead
    of the first answer. Everything else, the rest of the metadata included, still counts."""
    meta = request.get("metadata")
    if isinstance(meta, dict) and "prefect" in meta:
        rest = {k: v for k, v in meta.items() if k != "prefect"}
        request = {**request, "metadata": rest} if rest else {k: v for k, v in request.items() if k != "metadata"}
    return fingerprint(request)


def explicit_slot(operation: str, key: str) -> str:
    return f"key:{operation}:{key}"


def implicit_slot(operation: str, mailbox_id: str, content: dict[str, Any]) -> str:
    """The slot for the implicit window: the request's content, without metadata."""
    return f"auto:{operation}:{mailbox_id}:{fingerprint(content)}"


def resolve_key(header_key: str | None, body_key: str | None) -> str | None:
    """Header and body field may both be given, but then they must agree."""
    if header_key is not None:
        validate_key(header_key)
    if body_key is not None:
        validate_key(body_key)
    if header_key is not None and body_key is not None and header_key != body_key:
        raise BadRequest(
            "Idempotency-Key header and idempotency_key field differ.",
            code="invalid_idempotency_key",
            details={"field": "idempotency_key"},
        )
    return header_key if header_key is not None else body_key
