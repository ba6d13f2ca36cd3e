"""Header values of a parsed message as text: encoded-words (RFC 2047) decoded, raw 8-bit bytes
read as UTF-8 or windows-1252, and address lists split before their display names are decoded.

The stdlib's header parser does the decoding; where it raises (an encoded-word that decodes to
CR/LF, say), `decode_words` decodes the value without it, so a hostile header is stored as one
line of text rather than refused. What went wrong is appended to the caller's `defects`.
"""

from __future__ import annotations

import re
from email.header import decode_header
from email.message import Message
from email.policy import default as default_policy
from email.utils import getaddresses

from .charsets import decode_bytes
from .text import fix_surrogates, has_raw_bytes, one_line


def header_values(msg: Message, name: str, defects: list[str] | None = None) -> list[str]:
    """Every value of header `name`, decoded (encoded-words), as text. Raw 8-bit bytes in a header
    (which the parser would turn into U+FFFD) are read as UTF-8, else windows-1252."""
    values = []
    try:
        raw_items = [(k, v) for k, v in msg.raw_items() if k.lower() == name.lower()]
    except Exception:
        raw_items = []
    for key, raw in raw_items:
        try:
            if isinstance(raw, str) and has_raw_bytes(raw):
                if defects is not None:
                    defects.append(f"header {name}: 8-bit bytes")
                values.append(str(default_policy.header_factory(key, fix_surrogates(raw))))
            else:
                values.append(fix_surrogates(str(msg.policy.header_fetch_parse(key, raw))))
        except Exception as exc:  # e.g. an encoded-word that decodes to CR/LF: decode it without the parser
            if defects is not None:
                defects.append(f"header {name}: {type(exc).__name__}")
            values.append(decode_words(fix_surrogates(str(raw))))
    return values


def first_header(msg: Message, name: str, defects: list[str] | None = None) -> str:
    """The first value of header `name` as `header_values` decodes it, "" when there is none."""
    values = header_values(msg, name, defects)
    return values[0] if values else ""


def decode_words(value: str) -> str:
    """RFC 2047 encoded-words decoded without the header parser; line breaks become spaces."""
    try:
        parts = decode_header(value)
    except Exception:
        return one_line(value)
    out = []
    for chunk, charset in parts:
        out.append(decode_bytes(chunk, charset, []) if isinstance(chunk, bytes) else chunk)
    return one_line("".join(out))


def _raw_values(msg: Message, name: str) -> list[str]:
    try:
        return [fix_surrogates(str(v)) for k, v in msg.raw_items() if k.lower() == name.lower()]
    except Exception:
        return []


def addresses(msg: Message, name: str, defects: list[str]) -> list[str]:
    """Addresses split on the raw header first, display names decoded after: an encoded-word
    that decodes to "CRLF Bcc: x" or "a@b, c@d" stays inside its display name."""
    header_values(msg, name, defects)  # for its defects
    values = [re.sub(r"\r?\n[ \t]*", " ", v) for v in _raw_values(msg, name)]
    result = []
    try:
        pairs = getaddresses(values)
    except Exception:
        defects.append(f"header {name}: unparseable addresses")
        return []
    for display, addr in pairs:
        display, addr = decode_words(display), one_line(addr).replace(" ", "")
        if addr and "@" in addr:
            result.append(_with_display_name(display, addr) if display else addr)
        elif addr or display:
            defects.append(f"header {name}: invalid address")
    return result


def _with_display_name(display: str, addr: str) -> str:
    """`Name <addr>`, the name quoted when it holds a character that would split or end it."""
    if re.search(r'[()<>\[\]:;@\\,."]', display):
        quoted = display.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{addr}>'
    return f"{display} <{addr}>"
