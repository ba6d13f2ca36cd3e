"""The content version of an outbound message: one hash over everything that will leave.

An approval is a decision about exact content. The approver's screen shows this version as
`content_hash`; approve_message may be given it back, and refuses (409) when the message changed
since it was shown; the approval records it, and the delivery worker checks just before composing
that what it is about to send still has the approved version. Any field a recipient (or a Bcc'd
recipient) receives is part of it, so changing any of them changes the version.

Pure: a canonical JSON (sorted keys, no whitespace, UTF-8) of the stored fields, hashed with SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

# Bumped when the set of fields or their canonical form changes, so an old hash never matches new
# content by accident of a format change.
VERSION_FORMAT = 1


def attachment_digest(content: bytes) -> str:
    """SHA-256 hex of an attachment's bytes (the part of it the version covers besides its name,
    type and size)."""
    return hashlib.sha256(content).hexdigest()


def _attachment_entry(att: Mapping[str, Any]) -> dict[str, Any]:
    content = att.get("content")
    if content is None and "sha256" not in att:
        raise ValueError("an attachment's version needs its content (or its sha256)")
    return {
        "filename": att["filename"],
        "content_type": att["content_type"],
        "size": att["size"],
        "sha256": att["sha256"] if content is None else attachment_digest(bytes(content)),
    }


def canonical_content(
    *,
    from_addr: str,
    to: Iterable[str],
    cc: Iterable[str],
    bcc: Iterable[str],
    reply_to: Iterable[str],
    subject: str,
    text: str,
    html: str | None,
    attachments: Iterable[Mapping[str, Any]],
    in_reply_to: str | None,
    references: Iterable[str],
    extra_headers: Mapping[str, str] | None = None,
) -> str:
    """The canonical JSON the version is the hash of (handy to diff two versions by eye)."""
    payload = {
        "format": VERSION_FORMAT,
        "from": from_addr,
        "to": list(to),
        "cc": list(cc),
        "bcc": list(bcc),
        "reply_to": list(reply_to),
        "subject": subject,
        "text": text,
        "html": html,
        "attachments": [_attachment_entry(a) for a in attachments],
        "in_reply_to": in_reply_to,
        "references": list(references),
        "extra_headers": sorted([k, v] for k, v in (extra_headers or {}).items()),
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_version(**fields: Any) -> str:
    """SHA-256 hex of `canonical_content(**fields)`."""
    return hashlib.sha256(canonical_content(**fields).encode("utf-8")).hexdigest()
