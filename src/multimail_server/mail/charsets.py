"""Text from the bytes of a body or an encoded-word, whatever its charset label says.

Mail from the world often declares a charset it does not use, or one Python does not know by
that name: labels are mapped to the superset codec browsers use for them (ISO-8859-1 is read
as windows-1252, Shift_JIS as cp932, ...), and bytes that do not decode fall back to UTF-8, then
windows-1252 (which never fails), each fallback noted as a defect.
"""

from __future__ import annotations

import codecs

from .text import one_line

# Labels whose real-world meaning is a superset codec (as browsers treat them).
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "utf-8",  # 8-bit bytes under an ASCII label are most often UTF-8
    "ascii": "utf-8",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "iso-2022-jp": "iso2022_jp_ext",
    "tis-620": "cp874",
    "iso-8859-9": "cp1254",
    "utf8": "utf-8",
}


def _codec(label: str | None) -> str | None:
    """The Python codec for a charset label, or None when there is no label or none matches."""
    if not label:
        return None
    label = label.strip().strip('"').lower()
    label = _CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_bytes(payload: bytes, charset: str | None, defects: list[str]) -> str:
    """Best-effort text from bytes in `charset`: the declared charset, else UTF-8, else
    windows-1252 (which never fails)."""
    codec = _codec(charset)
    if charset and codec is None:
        defects.append(f"unknown charset {one_line(charset)[:40]!r}")
    if codec is not None:
        try:
            return payload.decode(codec)
        except (UnicodeDecodeError, LookupError):
            defects.append(f"bytes not valid in {codec}")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if codec is not None and codec not in ("utf-8", "cp1252"):
        return payload.decode(codec, "replace")
    return payload.decode("cp1252", "replace")
