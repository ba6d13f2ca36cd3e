"""What may go into a mail header: the one check every header-bound value passes.

Every character `str.splitlines()` breaks a line at, plus NUL, is refused: CR and LF are how
header injection starts, and the stdlib's email policies refuse the others (VT, FF, FS, GS, RS,
NEL, U+2028, U+2029) when composing, so a value holding one would be accepted and then fail at
delivery. The MIME encoder also decodes RFC 2047 encoded-words it finds in header text, so
`=?utf-8?q?x=0D=0ABcc:_y?=` would become a line break and a Bcc header: values are checked once
more as the encoder would see them.
"""

from __future__ import annotations

from email.policy import default as default_policy

from .errors import BadRequest

LINE_BREAKS = frozenset("\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def as_header_text(value: str) -> str:
    """What the MIME encoder makes of a header value (encoded-words decoded)."""
    if "=?" not in value:
        return value
    try:
        return str(default_policy.header_factory("subject", value))
    except Exception:  # the parser raises on some input; then the value is suspicious anyway
        return value + "\n"


def refuse_control_chars(value: str, field: str) -> None:
    """400 `header_injection` when `value` could break the header it is meant for."""
    if not (LINE_BREAKS.isdisjoint(value) and LINE_BREAKS.isdisjoint(as_header_text(value))):
        raise BadRequest(
            f"{field} contains a line break or control character that cannot appear in a mail header.",
            code="header_injection",
            details={"field": field},
        )


def header_safe(text: str) -> str:
    """A header value taken from received mail (a reply's subject), made safe to send:
    encoded-words decoded and every line break turned into a space."""
    for _ in range(3):  # an encoded-word may itself decode to another encoded-word
        decoded = as_header_text(text)
        text = " ".join("".join(" " if c in LINE_BREAKS else c for c in decoded).split())
        if "=?" not in text:
            break
    return text.replace("=?", "= ?")
