"""Build the RFC 5322 message for a stored outbound message.

The stdlib `email` package with `policy.default` does the MIME work: encoded-words for non-ASCII
headers, quoted-printable or base64 bodies as needed, multipart/alternative for text + HTML and
multipart/mixed once attachments come in. The bytes produced here are exactly what a transport
hands over (CRLF line endings), and are stored with the message.
"""

from __future__ import annotations

import re
from datetime import datetime
from email import contentmanager
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.policy import default as default_policy
from email.utils import format_datetime
from typing import Any

# What the fast path (`_plain_message`) takes as it is: an addr-spec of dot-atoms, a header value
# of printable ASCII words separated by single spaces (no encoded-word look-alike), a Message-ID.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*")
_PLAIN_VALUE = re.compile(r"[!-~]+(?: [!-~]+)*")
_PLAIN_MESSAGE_ID = re.compile(rf"<{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*>")
_NEWLINE = re.compile(rb"\r\n|\r|\n")
_MAX_LINE = 78  # policy.SMTP's max_line_length: a longer header line would be folded
# How set_content encodes a text body (transfer encoding and payload); the package's own helper,
# so the fast path's bodies are the package's. Without it (another Python), no fast path.
_encode_text = getattr(contentmanager, "_encode_text", None)


def new_internet_message_id(local_id: str, domain: str) -> str:
    return f"<{local_id}@{domain}>"


def needs_smtputf8(addresses: list[str]) -> bool:
    return any(not a.isascii() for a in addresses)


def build_message(
    *,
    from_addr: str,
    to: list[str],
    cc: list[str],
    reply_to: list[str],
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    date: datetime,
    in_reply_to: str | None,
    references: list[str],
    attachments: list[dict[str, Any]],
    extra_headers: dict[str, str] | None = None,
) -> bytes:
    if not (html or attachments or in_reply_to or references):
        plain = _plain_message(from_addr, to, cc, reply_to, subject, text, message_id, date, extra_headers)
        if plain is not None:
            return plain
    return _email_package_message(from_addr=from_addr, to=to, cc=cc, reply_to=reply_to, subject=subject, text=text,
                                  html=html, message_id=message_id, date=date, in_reply_to=in_reply_to,
                                  references=references, attachments=attachments, extra_headers=extra_headers)


def _email_package_message(*, from_addr: str, to: list[str], cc: list[str], reply_to: list[str], subject: str, text: str,
                           html: str | None, message_id: str, date: datetime, in_reply_to: str | None,
                           references: list[str], attachments: list[dict[str, Any]],
                           extra_headers: dict[str, str] | None) -> bytes:
    msg = EmailMessage()
    msg["From"] = from_addr
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    msg["MIME-Version"] = "1.0"
    for name, value in (extra_headers or {}).items():
        msg[name] = value
    msg.set_content(text or "")
    if html:
        msg.add_alternative(html, subtype="html")
    for att in attachments:
        maintype, _, subtype = (att["content_type"] or "application/octet-stream").partition("/")
        msg.add_attachment(
            att["content"], maintype=maintype, subtype=subtype or "octet-stream", filename=att["filename"]
        )
    all_addresses = [from_addr, *to, *cc, *reply_to]
    policy = SMTPUTF8 if needs_smtputf8(all_addresses) else SMTP
    return msg.as_bytes(policy=policy)


def _plain_message(from_addr: str, to: list[str], cc: list[str], reply_to: list[str], subject: str, text: str,
                   message_id: str, date: datetime, extra_headers: dict[str, str] | None) -> bytes | None:
    """The bytes `build_message` produces, written directly, for the common message: text only,
    every address a plain addr-spec, every header value plain ASCII that fits on its line; None
    for anything else (the email package composes it). Why: building an EmailMessage parses each
    header value into a tree and refolds it on output, most of a composition's CPU, and for
    values like these both steps give back the value unchanged. The body is encoded by the same
    function `set_content` uses, so its transfer encoding and bytes are the package's own.
    tests/mail/test_compose_fast.py holds this byte for byte against the email package."""
    addresses = [from_addr, *to, *cc, *reply_to]
    if _encode_text is None or not to or not all(_PLAIN_ADDRESS.fullmatch(a) for a in addresses):
        return None
    headers = [("From", from_addr), ("To", ", ".join(to))]
    if cc:
        headers.append(("Cc", ", ".join(cc)))
    if reply_to:
        headers.append(("Reply-To", ", ".join(reply_to)))
    if not _PLAIN_VALUE.fullmatch(subject or "") or "=?" in subject or not _PLAIN_MESSAGE_ID.fullmatch(message_id):
        return None
    headers += [("Subject", subject), ("Date", format_datetime(date)), ("Message-ID", message_id), ("MIME-Version", "1.0")]
    for name, value in (extra_headers or {}).items():
        if not _PLAIN_VALUE.fullmatch(value) or "=?" in value:
            return None
        headers.append((name, value))
    if any(len(name) + 2 + len(value) > _MAX_LINE for name, value in headers):
        return None
    cte, payload = _encode_text(text or "", "utf-8", None, default_policy)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    head += f'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'
    return head.encode("ascii") + _NEWLINE.sub(b"\r\n", payload.encode("ascii", "surrogateescape"))


def compose_stored(msg: dict[str, Any], attachments: list[dict[str, Any]], *, text: str | None = None,
                   html: str | None = None, reply_to: list[str] | None = None) -> bytes:
    """The bytes of a stored outbound message (a `messages` row); `text`, `html` and `reply_to`
    replace the stored ones (a question's copy for external recipients carries its links and
    private reply address). The delivery worker and the approver's view compose through here, so
    what an approver is shown is what goes out."""
    return build_message(
        from_addr=msg["from_addr"],
        to=msg["to_addrs"],
        cc=msg["cc_addrs"],
        reply_to=msg["reply_to"] if reply_to is None else reply_to,
        subject=msg["subject"],
        text=msg["body_text"] if text is None else text,
        html=msg["body_html"] if html is None else html,
        message_id=msg["internet_message_id"],
        date=msg["decided_at"] or msg["created_at"],
        in_reply_to=msg["in_reply_to"],
        references=msg["references"],
        attachments=attachments,
        extra_headers={"X-MultiMail-Message-Id": msg["id"]},
    )
