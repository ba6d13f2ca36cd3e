"""The two shapes text is kept in: single-line values (subjects, display names, filenames) and
bodies with "\\n" line endings. Both are what a viewer is shown and what may be re-used in a
header, so a stored value can never break a line or hide text behind a control character.
"""

from __future__ import annotations

import re

# Characters that must not survive in a one-line value: C0/C1 controls (CR, LF, NEL, TAB...),
# LINE/PARAGRAPH SEPARATOR, zero-width space, bidi overrides/isolates and BOM.
_LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b\u202a-\u202e\u2066-\u2069\ufeff]")
_SURROGATES = re.compile("[\udc80-\udcff]")


def has_raw_bytes(value: str) -> bool:
    """Whether `value` carries raw 8-bit bytes the stdlib parser kept as surrogate escapes."""
    return bool(_SURROGATES.search(value))


def fix_surrogates(value: str) -> str:
    """Header text the parser decoded with surrogateescape (raw 8-bit bytes): decode those bytes
    as UTF-8 when they are, else as windows-1252 (what senders of unlabelled 8-bit mostly mean)."""
    if not has_raw_bytes(value):
        return value
    raw = value.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def one_line(value: str) -> str:
    """A header value safe to show and to re-use in a header: no CR/LF/LS/PS/controls."""
    value = fix_surrogates(value or "")
    value = _LINE_BREAKING.sub(" ", value)
    return re.sub(r" {2,}", " ", value).strip()


def normalise_text(text: str) -> str:
    """Body text with "\\n" line endings (CRLF, CR, LS and PS become "\\n") and no NUL bytes,
    which PostgreSQL text columns refuse."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return text.replace("\u2028", "\n").replace("\u2029", "\n")
