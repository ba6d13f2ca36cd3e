"""Build the RFC 5322 message for a stored outbound message.

The stdlib `email` package with `policy.default` does the MIME work: encoded-words for non-ASCII
headers, quoted-printable or base64 bodies as needed, multipart/alternative for text + HTML and
multipart/mixed once attachments come in. The bytes produced here are exactly what a transport
hands over (CRLF line endings), and are stored with the message.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime
from typing import Any


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
