"""The two secrets that can decide a question, and how to keep them out of every view.

The same two kinds of secret let a human approve a held message by email (services/
approval_notices.py): a signed single-use link `…/a/<nonce>.<mac>` and a private reply address
`<local>+a_<secret>@<domain>`, sent only to external approvers. They have the same shapes and are
scrubbed by the same functions.

A decide_email question carries, in the copy that goes to its external addressees only:
- one signed single-use link per option, `…/d/<nonce>.<mac>` (nonce: 18 random bytes, mac: 16
  bytes of HMAC, both base64url: 24 and 22 characters);
- a private reply address, `<mailbox local part>+q_<secret>@<domain>` (secret: 100 bits of
  HMAC over the question id, 20 lower-case base32 characters), in its Reply-To.

Whoever holds either can answer as the human, so neither may reach an API key: not through the
question itself, not through a hosted mailbox's copy of it, not through a human's reply that
quotes it (mail clients quote links and headers), not through webhooks or the audit trail.
`redact_text` and `redact_address` are applied wherever message content leaves the store:
when inbound mail is stored (its parsed fields are scrubbed; the raw bytes are kept but never
served as they are) and again in every view (defence in depth for outbound rows).
"""

from __future__ import annotations

import re

LINK_PLACEHOLDER = "[one-click decision link: sent to the recipients only]"

# A link token exactly as services/decision_links.py mints it; the anchors keep unrelated URLs
# that merely contain "/d/" (a shared document, say) untouched.
_LINK_TOKEN = re.compile(r"(/[da]/)[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{22}(?![A-Za-z0-9_-])")
# The +q_<secret> tag of a private reply address, wherever it appears (addresses, quoted
# headers, free text); removing the tag leaves the mailbox's ordinary address.
_REPLY_TAG = re.compile(r"\+[qa]_[a-z2-7]{20}(?=@)", re.IGNORECASE)
_REPLY_TAG_BYTES = re.compile(rb"\+[qa]_[a-z2-7]{20}(?=@)", re.IGNORECASE)
_LINK_TOKEN_BYTES = re.compile(rb"(/[da]/)[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{22}(?![A-Za-z0-9_-])")

REPLY_TAG_PREFIX = "q_"
APPROVAL_TAG_PREFIX = "a_"
REPLY_SECRET_LENGTH = 20


# What either secret starts with; one search for any of them (an inbox page asks this of every
# message's body, and a generator over six substring tests cost 0.4 ms a page).
_MARK = re.compile(r"/[da]/|\+[qaQA]_")


def redact_text(text: str | None) -> str | None:
    """`text` with every decision-link token and private reply tag removed."""
    if not text or _MARK.search(text) is None:
        return text
    return _REPLY_TAG.sub("", _LINK_TOKEN.sub(lambda m: m.group(1) + LINK_PLACEHOLDER, text))


def redact_address(address: str) -> str:
    return _REPLY_TAG.sub("", address) if "+" in address else address


def redact_addresses(addresses: list[str] | None) -> list[str]:
    return [redact_address(a) for a in addresses or []]


def redact_bytes(data: bytes) -> bytes:
    """For text-like attachments (a forwarded question, a quoted .eml): the same scrub on bytes."""
    if not any(mark in data for mark in (b"/d/", b"/a/", b"+q_", b"+a_", b"+Q_", b"+A_")):
        return data
    return _REPLY_TAG_BYTES.sub(b"", _LINK_TOKEN_BYTES.sub(lambda m: m.group(1) + LINK_PLACEHOLDER.encode(), data))


def contains_secret(text: str | None) -> bool:
    return bool(text and (_LINK_TOKEN.search(text) or _REPLY_TAG.search(text)))


def split_plus_tag(address: str) -> tuple[str, str | None]:
    """`local+tag@domain` → (`local@domain`, `tag`); an address without a tag → (address, None)."""
    local, at, domain = address.rpartition("@")
    if not at or "+" not in local:
        return address, None
    base, _, tag = local.partition("+")
    if not base:
        return address, None
    return f"{base}@{domain}", tag
