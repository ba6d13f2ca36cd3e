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
