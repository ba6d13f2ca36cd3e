"""Threading rules: reply subjects and the References chain (RFC 5322 section 3.6.4).

Named `threading` for what it holds (mail threads); it is imported as `multimail_server.core.threading`
and never shadows the stdlib module for anyone importing `threading` absolutely.
"""

from __future__ import annotations

import re

# "Re:", "RE :", "Fwd:", "AW:", "SV:", "Antw:" ... and bracketed counters like "Re[2]:".
_PREFIX = re.compile(r"^\s*((re|fwd?|aw|sv|antw|vs|wg|tr|rif|r)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
MAX_REFERENCES = 50  # keep References bounded; the oldest and newest ids matter most


def reply_subject(subject: str) -> str:
    """`Re: <subject>` without stacking prefixes (`Re: Re: Re:`)."""
    base = strip_prefixes(subject)
    return f"Re: {base}" if base else "Re:"


def strip_prefixes(subject: str) -> str:
    return _PREFIX.sub("", subject or "").strip()


def reply_references(parent_references: list[str], parent_message_id: str) -> list[str]:
    """The parent's References plus the parent's Message-ID, trimmed from the middle if long."""
    refs = [r for r in parent_references if r] + [parent_message_id]
    if len(refs) > MAX_REFERENCES:
        refs = refs[:1] + refs[-(MAX_REFERENCES - 1):]
    return refs


_MSGID = re.compile(r"<[^<>\s]+>")


def parse_message_ids(header_value: str | None) -> list[str]:
    """All `<id@host>` tokens of a Message-ID, In-Reply-To or References header, in order."""
    if not header_value:
        return []
    return _MSGID.findall(header_value)
