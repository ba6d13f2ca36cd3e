"""Parse RFC 5322 bytes into the fields MultiMail stores: `parse_message`, the entry point.

Lenient by design: mail from the world is often malformed, and a message is stored (and its
defects noted in `ParsedMail.defects`) rather than refused. `parse_message` never raises.

- The stdlib parser (`email`, default policy) reads the structure and undoes the transfer
  encodings (base64, quoted-printable); this module picks the bodies and attachments.
- Text is taken from text/plain, or derived from HTML (mail/html.py, inscriptis) when only HTML came.
- Bodies are decoded from their declared charset with best-effort fallbacks (mail/charsets.py);
  text line endings are normalised to "\\n" (mail/text.py).
- Header values are decoded and single-line (mail/headers.py): subjects, display names and
  filenames never carry CR, LF, U+2028 or other control characters (each becomes a space).
- HTML is stored as received and sanitised wherever it is shown (mail/html.py).
- A forwarded message (a message/rfc822 part, as "forward as attachment" sends it) is kept whole
  as one attachment of that type, named after its Subject, so it can be read and forwarded on;
  its own parts are not mixed into the outer message's bodies and attachments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import EmailPolicy
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any

from ..core.threading import parse_message_ids
from .automatic import is_automatic
from .charsets import decode_bytes
from .headers import addresses, first_header
from .html import text_from_html
from .text import fix_surrogates, normalise_text, one_line


@dataclass
class ParsedMail:
    """What is stored of a received message: decoded, single-line headers and text bodies."""

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


# --- header parsing, cached ----------------------------------------------------------------------

_CACHED_HEADER_CHARS = 998  # RFC 5322's line limit: longer (folded) values are parsed each time
_LINESEP = re.compile(r"\n|\r")  # what EmailPolicy.header_fetch_parse removes (not str.splitlines)


@lru_cache(maxsize=512)  # at most a few MB of parsed headers
def _parsed_header(name: str, value: str) -> Any:
    return default_policy.header_factory(name, value)


class _CachingPolicy(EmailPolicy):
    """The default policy, with each (name, value) header parsed once.

    Why: the stdlib parses a header again on every access, with its full RFC 5322 grammar; a
    received message's Content-Type is read seven times (the parser, get_body, the charset, the
    attachment walk), and the same Content-Type, MIME-Version and recipient headers arrive on
    message after message. Parsing was three quarters of parse_message's CPU. The parsed header
    is a function of its name and value alone and is never modified, so a shared one is the same
    answer (a value that is not a plain string, or is very long, is parsed as before)."""

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if hasattr(value, "name") or not isinstance(value, str) or len(value) > _CACHED_HEADER_CHARS:
            return super().header_fetch_parse(name, value)
        return _parsed_header(name, _LINESEP.sub("", value))


_PARSE_POLICY = _CachingPolicy()


# --- bodies and attachments ------------------------------------------------------------------


def _part_text(part: Message, defects: list[str]) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception as exc:
        defects.append(f"content: {type(exc).__name__}")
        payload = None
    if payload is None:  # a multipart with no parts, or a payload the decoder gave up on
        raw = part.get_payload()
        if isinstance(raw, list):
            return ""
        payload = str(raw or "").encode("utf-8", "surrogateescape")
    if not isinstance(payload, bytes):
        payload = str(payload).encode("utf-8", "surrogateescape")
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return normalise_text(decode_bytes(payload, charset, defects))


def _is_attachment(part: Message) -> bool:
    try:
        disposition = (part.get_content_disposition() or "").lower()
    except Exception:
        disposition = ""
    return disposition == "attachment"


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        return None
    name = one_line(fix_surrogates(str(name)))
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip(". ")  # no paths
    return name[:255] or None


# --- the parser -----------------------------------------------------------------------------------


def _bodies(msg: Message, defects: list[str]) -> tuple[Message | None, Message | None]:
    text_part: Any = None  # email.message.Message or MIMEPart, as the parser returns them
    html_part: Any = None
    try:
        if isinstance(msg, EmailMessage):
            text_part = msg.get_body(preferencelist=("plain",))
            html_part = msg.get_body(preferencelist=("html",))
    except Exception as exc:
        defects.append(f"body: {type(exc).__name__}")
    if text_part is None and html_part is None:
        # Broken structure (no boundary found, odd nesting): the first inline text parts win.
        try:
            for part in msg.walk():
                if part.is_multipart() or _is_attachment(part):
                    continue
                ctype = part.get_content_type()
                if ctype == "text/plain" and text_part is None:
                    text_part = part
                elif ctype == "text/html" and html_part is None:
                    html_part = part
        except Exception as exc:
            defects.append(f"walk: {type(exc).__name__}")
    return text_part, html_part


def _parts(msg: Message) -> list[Message]:
    """Every part below `msg` in document order, like Message.walk(), except that a
    message/rfc822 part is one part (its insides belong to the forwarded message). Iterative, so
    deep nesting cannot exhaust the stack."""
    result: list[Message] = []
    stack: list[Message] = [msg]
    while stack:
        part = stack.pop()
        result.append(part)
        if part is not msg and part.get_content_type() == "message/rfc822":
            continue
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend(p for p in reversed(payload) if isinstance(p, Message))
    return result


def _forwarded(part: Message) -> dict[str, Any]:
    """A message/rfc822 part as an attachment: the inner message's bytes, named `<Subject>.eml`."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if isinstance(inner, Message):
        content = inner.as_bytes(policy=default_policy.clone(linesep="\r\n"))
        subject = one_line(fix_surrogates(str(inner.get("Subject") or "")))
    else:
        decoded = part.get_payload(decode=True)
        content = decoded if isinstance(decoded, bytes) else str(payload or "").encode("utf-8", "surrogateescape")
        subject = ""
    name = _filename(part)
    if name is None:
        stem = subject.replace("\\", " ").replace("/", " ").strip(". ")[:250] or "forwarded message"
        name = f"{stem}.eml"
    return {"filename": name, "content_type": "message/rfc822", "size": len(content), "content": content}


def _attachments(msg: Message, bodies: tuple[Message | None, Message | None], defects: list[str]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    try:
        parts = _parts(msg) if msg.is_multipart() else []
    except Exception as exc:
        defects.append(f"attachments: {type(exc).__name__}")
        return result
    for part in parts:
        if part is msg or any(part is b for b in bodies if b is not None):
            continue
        try:
            if part.get_content_type() == "message/rfc822":
                result.append(_forwarded(part))
                continue
            if part.is_multipart():
                continue
            filename = _filename(part)
            ctype = part.get_content_type()
            if not (_is_attachment(part) or filename or not ctype.startswith(("text/plain", "text/html"))):
                continue  # an alternative body part we did not pick
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                payload = str(part.get_payload() or "").encode("utf-8", "surrogateescape")
            result.append({"filename": filename or "attachment", "content_type": ctype, "size": len(payload), "content": payload})
        except Exception as exc:
            defects.append(f"attachment: {type(exc).__name__}")
    return result


def _raw_body(raw: bytes) -> bytes:
    for sep in (b"\r\n\r\n", b"\n\n"):
        if sep in raw:
            return raw.split(sep, 1)[1]
    return b""


def parse_message(raw: bytes) -> ParsedMail:
    """Parse `raw`; never raises. What could not be understood is listed in `defects`."""
    try:
        return _parse(raw)
    except Exception as exc:  # last resort: keep the bytes readable as text
        text = normalise_text(decode_bytes(_raw_body(raw) or raw, None, []))
        return ParsedMail(from_addr="", to=[], cc=[], reply_to=[], subject="", text=text, html=None,
                          message_id=None, in_reply_to=None, references=[], date=None,
                          defects=[f"unparseable: {type(exc).__name__}"])


def _parse(raw: bytes) -> ParsedMail:
    msg = message_from_bytes(raw, policy=_PARSE_POLICY)
    defects: list[str] = []
    for part in msg.walk():
        defects.extend(type(d).__name__ for d in getattr(part, "defects", []))
    if not msg.keys():
        defects.append("no headers")
    text_part, html_part = _bodies(msg, defects)
    text = _part_text(text_part, defects) if text_part is not None else ""
    html = _part_text(html_part, defects) if html_part is not None else None
    if text_part is None and html_part is None and not msg.is_multipart():
        ctype = msg.get_content_type()
        if ctype.startswith("text/") or ctype == "application/octet-stream" and not _filename(msg):
            text = _part_text(msg, defects)
    if not text.strip() and html:
        text = text_from_html(html)
    attachments = _attachments(msg, (text_part, html_part), defects)
    if text_part is None and html_part is None and not attachments and not text:
        # A multipart whose boundary never appears: keep its body readable as text.
        text = normalise_text(decode_bytes(_raw_body(raw), None, defects))
        defects.append("no readable part: raw body kept as text")
    date = None
    try:
        date_header = first_header(msg, "Date", defects)
        date = parsedate_to_datetime(date_header) if date_header else None
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
    except Exception:
        defects.append("date")
    from_addr = (addresses(msg, "From", defects) or [""])[0]
    subject = one_line(first_header(msg, "Subject", defects))
    message_ids = parse_message_ids(first_header(msg, "Message-ID", defects))
    in_reply_to = parse_message_ids(first_header(msg, "In-Reply-To", defects))
    return ParsedMail(
        from_addr=from_addr,
        to=addresses(msg, "To", defects),
        cc=addresses(msg, "Cc", defects),
        reply_to=addresses(msg, "Reply-To", defects),
        subject=subject,
        text=text,
        html=html.replace("\x00", "") if html is not None else None,
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=parse_message_ids(first_header(msg, "References", defects)),
        date=date,
        attachments=attachments,
        auto_submitted=is_automatic(msg, subject, from_addr),
        defects=list(dict.fromkeys(defects)),
    )
