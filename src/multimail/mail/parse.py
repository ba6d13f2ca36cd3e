"""Parse RFC 5322 bytes into the fields MultiMail stores.

Lenient by design: mail from the world is often malformed, and a message is stored (and its
defects noted) rather than refused. Text is taken from text/plain, or derived from HTML when only
HTML came.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import getaddresses, parsedate_to_datetime
from datetime import datetime
from typing import Any

from ..core.threading import parse_message_ids


@dataclass
class ParsedMail:
    from_addr: str
    to: list[str]
    cc: list[str]
    reply_to: list[str]
    subject: str
    text: str
    html: str | None
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    date: datetime | None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    auto_submitted: bool = False
    defects: list[str] = field(default_factory=list)


def _header(msg: EmailMessage, name: str) -> str:
    try:
        value = msg.get(name)
        return str(value) if value is not None else ""
    except Exception:  # a header the parser cannot make sense of counts as absent
        return ""


def _addresses(msg: EmailMessage, name: str) -> list[str]:
    values = msg.get_all(name) or []
    result = []
    for display, addr in getaddresses([str(v) for v in values]):
        if addr:
            result.append(f"{display} <{addr}>" if display else addr)
    return result


_TAG = re.compile(r"<[^>]+>")
_BLOCK = re.compile(r"</?(p|div|br|tr|li|h\d)[^>]*>", re.IGNORECASE)
_DROP = re.compile(r"<(script|style|head)[^>]*>.*?</\1>", re.IGNORECASE | re.DOTALL)


def text_from_html(markup: str) -> str:
    """Readable text from HTML: block tags become line breaks, entities are decoded."""
    markup = _DROP.sub("", markup)
    markup = _BLOCK.sub("\n", markup)
    text = html_lib.unescape(_TAG.sub("", markup))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def parse_message(raw: bytes) -> ParsedMail:
    msg = message_from_bytes(raw, policy=default_policy)
    defects = [type(d).__name__ for d in msg.defects]
    text_part = html_part = None
    try:
        text_part = msg.get_body(preferencelist=("plain",))
        html_part = msg.get_body(preferencelist=("html",))
    except Exception as exc:
        defects.append(f"body: {exc}")
    text = _content(text_part, defects) if text_part is not None else ""
    html = _content(html_part, defects) if html_part is not None else None
    if not text and html:
        text = text_from_html(html)
    attachments = []
    try:
        for part in msg.iter_attachments():
            payload = part.get_payload(decode=True) or b""
            attachments.append(
                {
                    "filename": part.get_filename() or "attachment",
                    "content_type": part.get_content_type(),
                    "size": len(payload),
                    "content": payload,
                }
            )
    except Exception as exc:
        defects.append(f"attachments: {exc}")
    date = None
    try:
        date_header = _header(msg, "Date")
        date = parsedate_to_datetime(date_header) if date_header else None
    except Exception:
        defects.append("date")
    message_ids = parse_message_ids(_header(msg, "Message-ID"))
    in_reply_to = parse_message_ids(_header(msg, "In-Reply-To"))
    auto = _header(msg, "Auto-Submitted").strip().lower()
    return ParsedMail(
        from_addr=(_addresses(msg, "From") or [""])[0],
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        reply_to=_addresses(msg, "Reply-To"),
        subject=_header(msg, "Subject"),
        text=text,
        html=html,
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=parse_message_ids(_header(msg, "References")),
        date=date,
        attachments=attachments,
        auto_submitted=bool(auto) and auto != "no",
        defects=defects,
    )


def _content(part: EmailMessage, defects: list[str]) -> str:
    try:
        return part.get_content()
    except Exception as exc:  # unknown charset, broken transfer encoding
        defects.append(f"content: {exc}")
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")
