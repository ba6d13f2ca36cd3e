"""Inbound mail: store a message for a hosted mailbox, thread it and read decisions from replies.

Both the SMTP receiver and local delivery (mail between two hosted mailboxes) come through
`store_inbound`, inside the caller's transaction, so an accepted message is stored with its
audit and event rows or not at all.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.header import Header, decode_header, make_header
from typing import Any

from sqlalchemy import Connection

from ..core.addresses import normalized_or_none
from ..core.ids import new_id
from ..mail.parse import ParsedMail, parse_message
from ..mail.replies import decision_of
from ..store import messages as message_q
from .common import record
from .views import inbox_item


def store_inbound(
    tx: Connection,
    *,
    mailbox: dict[str, Any],
    raw: bytes,
    now: datetime,
    authentication: dict[str, Any] | None = None,
    parsed: ParsedMail | None = None,
    require_verified_sender: bool = False,
) -> dict[str, Any] | None:
    """Store `raw` in `mailbox`; returns the new row, or None when this mailbox already has a
    message with the same Message-ID (a retried delivery is stored once).

    With `require_verified_sender`, a reply decides only when its sender was authenticated
    (DMARC-aligned SPF or DKIM): a From header alone is trivially forged, and a wrong decision
    is far worse than none."""
    mail = parsed or parse_message(raw)
    message_id = new_id("msg")
    internet_id = mail.message_id or f"<{message_id}@multimail.invalid>"
    # A retried delivery is stored once; the mailbox's own outbound copy (mail to itself) does not count.
    if mail.message_id and any(
        m["direction"] == "inbound" for m in message_q.by_internet_ids(tx, mailbox["id"], [mail.message_id])
    ):
        return None

    # Thread by In-Reply-To first, then References from newest to oldest.
    candidates = ([mail.in_reply_to] if mail.in_reply_to else []) + list(reversed(mail.references))
    known = {m["internet_message_id"]: m for m in message_q.by_internet_ids(tx, mailbox["id"], candidates)}
    parent = next((known[c] for c in candidates if c in known), None)
    if parent is not None:
        thread_id = parent["thread_id"]
        message_q.touch_thread(tx, thread_id, now)
    else:
        thread_id = new_id("thr")
        message_q.insert_thread(tx, {"id": thread_id, "mailbox_id": mailbox["id"], "subject": mail.subject, "created_at": now, "last_message_at": now})

    decision, question = None, None
    if parent is not None and parent["direction"] == "outbound":
        question = next(
            (m for m in reversed(message_q.thread_messages(tx, thread_id)) if m["kind"] == "decision" and m["direction"] == "outbound"),
            None,
        )
    if question is not None:
        sender = normalized_or_none(mail.from_addr)
        asked = {normalized_or_none(a) for a in question["to_addrs"] + question["cc_addrs"]}
        # Only a person the question went to decides; auto-replies (Auto-Submitted, X-Autoreply,
        # Precedence, out-of-office subjects) never do. The reply's new text (quoted history and
        # signatures stripped by mail-parser-reply) is matched conservatively.
        verified = bool((authentication or {}).get("verified_sender"))
        if sender and sender in asked and not mail.auto_submitted and (verified or not require_verified_sender):
            decision = decision_of(mail, question["options"] or [])

    row = {
        "id": message_id,
        "mailbox_id": mailbox["id"],
        "thread_id": thread_id,
        "direction": "inbound",
        "status": "received",
        "approval_status": None,
        "oversight_mode": None,
        "kind": "message",
        "internet_message_id": internet_id,
        "in_reply_to": mail.in_reply_to,
        "references": mail.references,
        "parent_id": parent["id"] if parent else None,
        "is_reply": parent is not None and parent["direction"] == "outbound",
        "from_addr": mail.from_addr,
        "to_addrs": mail.to,
        "cc_addrs": mail.cc,
        "bcc_addrs": [],
        "reply_to": mail.reply_to,
        "subject": mail.subject,
        "body_text": mail.text,
        "body_html": mail.html,
        "options": None,
        "decision": decision,
        "metadata": {"authentication": authentication, "defects": mail.defects} if (authentication or mail.defects) else {},
        "raw": raw,
        "read": False,
        "created_by": None,
        "created_at": now,
        "received_at": now,
    }
    message_q.insert_message(tx, row)
    message_q.insert_attachments(tx, message_id, [{"id": new_id("att"), **a} for a in mail.attachments])
    data = {**inbox_item(row, {}), "body": mail.text, "authentication": authentication}
    record(tx, at=now, principal=None, action="message.received", mailbox=mailbox, message=row,
           details={"from": mail.from_addr, "subject": mail.subject}, event="message.received", event_data=data)
    if question is not None:
        if decision is not None:
            record(tx, at=now, principal=None, action="decision.received", mailbox=mailbox, message=row,
                   details={"decision": decision, "question_message_id": question["id"]},
                   event="decision.received", event_data={"thread_id": thread_id, "message_id": message_id, "decision": decision, "question_message_id": question["id"]})
        else:
            record(tx, at=now, principal=None, action="decision.unclear", mailbox=mailbox, message=row,
                   details={"question_message_id": question["id"]},
                   event="decision.unclear", event_data={"thread_id": thread_id, "message_id": message_id, "question_message_id": question["id"]})
    return row


def is_hosted(ctx, address: str) -> bool:
    """Whether the server accepts mail for `address` (the SMTP RCPT check)."""
    from ..store import mailboxes as mailbox_q

    normalized = normalized_or_none(address)
    if normalized is None:
        return False
    with ctx.store.read() as tx:
        return mailbox_q.by_address(tx, normalized) is not None


_ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[QqBb]\?[^?\s]*\?=")


def _defuse_encoded_words(raw: bytes) -> bytes:
    """`raw` with encoded-words in the header block that decode to CR/LF (or NUL) re-encoded
    without them: the stdlib refuses such addresses, and they are header injection anyway."""
    end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0), default=len(raw))

    def fix(m: re.Match) -> bytes:
        try:
            text = str(make_header(decode_header(m.group(0).decode("ascii"))))
        except Exception:
            return b"=?utf-8?q?_?="
        if not any(c in text for c in "\r\n\0"):
            return m.group(0)
        return Header(re.sub(r"[\r\n\0]+", " ", text), "utf-8").encode().encode("ascii")

    return _ENCODED_WORD.sub(fix, raw[:end]) + raw[end:]


def _parse_inbound(raw: bytes) -> ParsedMail:
    """Parse for storage; never raises. Mail the parser chokes on is parsed again with dangerous
    encoded-words defused, and failing that stored raw with a minimal parsed form, flagged."""
    try:
        return parse_message(raw)
    except Exception as first:
        problem = f"unparseable: {type(first).__name__}: {first}"[:300]
    try:
        mail = parse_message(_defuse_encoded_words(raw))
        mail.defects = [*mail.defects, "sanitised: " + problem]
        return mail
    except Exception:
        pass
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    return ParsedMail(
        from_addr="", to=[], cc=[], reply_to=[], subject="", text=body.decode("utf-8", "replace"), html=None,
        message_id=None, in_reply_to=None, references=[], date=None, defects=[problem],
    )


def receive(ctx, *, raw: bytes, mail_from: str, rcpt_tos: list[str], authentication: dict[str, Any] | None = None) -> list[str]:
    """Store one message for each hosted recipient in one transaction; returns the new ids.
    Called by the SMTP receiver before it answers 250, so an accepted message is durable."""
    from ..store import mailboxes as mailbox_q

    mail = _parse_inbound(raw)
    now = ctx.now()
    stored = []
    with ctx.store.write() as tx:
        boxes = mailbox_q.addresses_in(tx, sorted({n for n in (normalized_or_none(r) for r in rcpt_tos) if n}))
        for box in boxes.values():
            row = store_inbound(tx, mailbox=box, raw=raw, now=now, authentication=authentication, parsed=mail,
                                require_verified_sender=ctx.settings.decisions_require_verified_sender)
            if row is not None:
                stored.append(row["id"])
    return stored
