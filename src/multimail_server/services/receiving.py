"""Inbound mail: store a message for a hosted mailbox, thread it and read decisions from replies.

Both the SMTP receiver (`receive`) and local delivery (`deliver_locally`, mail between two hosted
mailboxes) come through `store_inbound`, inside the caller's transaction, so an accepted message
is stored with its audit and event rows or not at all. Its raw bytes are kept once
(`raw_blobs`), however many hosted mailboxes it reached.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from datetime import datetime
from email.header import Header, decode_header, make_header
from typing import Any

from sqlalchemy import Connection

from ..core.addresses import normalized_or_none
from ..core.decision_proof import REASONS, UNCLEAR, ReplyFacts, judge_reply
from ..core.decision_secrets import redact_address, redact_addresses, redact_bytes, redact_text, split_plus_tag
from ..core.ids import new_id
from ..mail.parse import ParsedMail, parse_message
from ..mail.redact import redact_message
from ..mail.replies import decision_of, new_text
from ..store import mailboxes as mailbox_q
from ..store import messages as message_q
from ..store import records
from . import approval_notices, approval_replies, bounces, decision_links
from . import spam as spam_svc
from .common import record
from .views import inbox_item, spam_view


def store_inbound(
    tx: Connection,
    *,
    mailbox: dict[str, Any],
    raw: bytes,
    now: datetime,
    authentication: dict[str, Any] | None = None,
    parsed: ParsedMail | None = None,
    reply_text: str | None = None,
    envelope_recipients: list[str] | None = None,
    require_dmarc: bool = False,
    raw_sha256: str | None = None,
    spam: dict[str, Any] | None = None,
    ctx: Any = None,
) -> dict[str, Any] | None:
    """Store `raw` in `mailbox`; returns the new row, or None when it is a retried delivery of a
    message this mailbox already has.

    A retry is the same Message-ID with the same bytes, or from the same DMARC-authenticated
    domain: a Message-ID alone is chosen by the sender, so a forged earlier message with a known
    Message-ID must not suppress the genuine one (both are kept).

    The stored fields (body, addresses, subject, attachments' text) have decision secrets
    scrubbed (core/decision_secrets.py): a human's reply quotes the question, links and all, and
    the agent reads that reply. If the message answers a decide_email question, the rules of
    core/decision_proof.py decide whether it decides; `reply_text` is its new text, stripped of
    quotes outside the transaction (services/receiving.receive). `raw_sha256` is given by a caller
    that kept the bytes already (`keep_raw`); without it they are kept here.

    With `ctx` (mail from outside, services/receiving.receive) the message gets a spam verdict:
    `spam` is rspamd's (services/spam.rspamd_verdict), else the baseline decides; mail in
    quarantine announces itself as `message.spam`, not `message.received`. Local delivery between
    hosted mailboxes is never scored (the server vouches for the sender)."""
    mail = parsed or parse_message(raw)
    authentication = authentication or {}
    digest = raw_sha256 or keep_raw(tx, raw, now)
    message_id = new_id("msg")
    internet_id = mail.message_id or f"<{message_id}@multimail.invalid>"
    if mail.message_id and any(
        _same_delivery(tx, m, digest, authentication)
        for m in message_q.received_with_internet_id(tx, mailbox["id"], mail.message_id)
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
        message_q.insert_thread(tx, {"id": thread_id, "mailbox_id": mailbox["id"], "subject": redact_text(mail.subject),
                                     "created_at": now, "last_message_at": now})

    question, thread = None, []
    if parent is not None and parent["direction"] == "outbound":
        thread = message_q.thread_messages(tx, thread_id)
        question = next((m for m in reversed(thread) if m["kind"] == "decision" and m["direction"] == "outbound"), None)
    check = (_decision_check(tx, question, thread, mail, authentication, reply_text, envelope_recipients or [], require_dmarc)
             if question else None)
    # A reply to an approver's notice may approve or reject the held message (services/approval_replies).
    approval = (approval_replies.check_reply(tx, notice=parent, mail=mail, authentication=authentication, reply_text=reply_text,
                                             envelope_recipients=envelope_recipients or [], require_dmarc=require_dmarc)
                if parent is not None and parent["direction"] == "outbound" and parent["kind"] == approval_notices.KIND else None)

    verdict, spam_state = (spam_svc.inbound_verdict(ctx, given=spam, mail=mail, authentication=authentication, mailbox=mailbox)
                           if ctx is not None else (None, None))
    metadata: dict[str, Any] = {}
    if authentication:
        metadata["authentication"] = authentication
    if mail.defects:
        metadata["defects"] = mail.defects
    if check is not None:
        metadata["decision_check"] = check
    if approval is not None:
        metadata["approval_check"] = {k: v for k, v in approval.items() if k != "content_hash"}
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
        "from_addr": redact_address(mail.from_addr),
        "to_addrs": redact_addresses(mail.to),
        "cc_addrs": redact_addresses(mail.cc),
        "bcc_addrs": [],
        "reply_to": redact_addresses(mail.reply_to),
        "subject": redact_text(mail.subject),
        "body_text": redact_text(mail.text),
        "body_html": redact_text(mail.html),
        "options": None,
        "decision": check["decision"] if check and check["outcome"] == "decided" else None,
        "metadata": metadata,
        "raw": None,
        "raw_sha256": digest,
        "read": False,
        "created_by": None,
        "created_at": now,
        "received_at": now,
        "spam_verdict": verdict,
        "spam_state": spam_state,
        "spam_label": None,
    }
    message_q.insert_message(tx, row)
    message_q.insert_attachments(tx, message_id, [{"id": new_id("att"), **_scrubbed(a)} for a in mail.attachments])
    data = {**inbox_item(row, {}), "body": row["body_text"], "authentication": authentication or None}
    details = {"from": row["from_addr"], "subject": row["subject"]}
    if spam_state is not None:
        assert verdict is not None
        details["spam"] = {"state": spam_state, "source": verdict["source"], "score": verdict["score"]}
        data["spam"] = spam_view(row)
    record(tx, at=now, principal=None, action="message.received", mailbox=mailbox, message=row, details=details,
           event="message.received" if spam_state is None else "message.spam", event_data=data)
    if check is not None:
        _record_check(tx, now, mailbox, row, check)
    if approval is not None:
        approval_replies.apply(tx, now=now, reply=row, check=approval)
    return row


def keep_raw(tx: Connection, raw: bytes, now: datetime) -> str:
    """Keep `raw` once in `raw_blobs` and return its hash. A caller storing one message in several
    mailboxes calls this once and passes the hash to each `store_inbound`, so the bytes (up to
    the message size limit) cross to the database once, not once per mailbox."""
    digest = hashlib.sha256(raw).hexdigest()
    message_q.put_raw_blob(tx, digest, raw, now)
    return digest


def _same_delivery(tx: Connection, existing: dict[str, Any], digest: str, authentication: dict[str, Any]) -> bool:
    """Whether a stored message with the same Message-ID is this very message delivered again."""
    stored = existing.get("raw_sha256") or (hashlib.sha256(existing["raw"]).hexdigest() if existing.get("raw") else None)
    if stored == digest:
        return True
    before = (existing.get("metadata") or {}).get("authentication") or {}
    return bool(
        authentication.get("verified_sender") and before.get("verified_sender")
        and not authentication.get("local_delivery") and not before.get("local_delivery")
        and authentication.get("from_domain") and authentication.get("from_domain") == before.get("from_domain")
    )


_TEXTUAL = ("text/", "message/")


def _scrubbed(attachment: dict[str, Any]) -> dict[str, Any]:
    """A text or message attachment (a forwarded question, an attached .eml) without secrets."""
    kind = (attachment.get("content_type") or "").lower()
    if not kind.startswith(_TEXTUAL):
        return attachment
    # A text attachment is stored decoded; an attached message is RFC 5322 again, encodings and all.
    content = redact_message(attachment["content"]) if kind.startswith("message/") else redact_bytes(attachment["content"])
    return {**attachment, "content": content, "size": len(content)}


def _decision_check(tx: Connection, question: dict[str, Any], thread: list[dict[str, Any]], mail: ParsedMail, authentication: dict[str, Any],
                    reply_text: str | None, envelope_recipients: list[str], require_dmarc: bool) -> dict[str, Any]:
    """Whether this reply decides `question` (core/decision_proof.py), and with which option."""
    addressees = frozenset(
        n for n in (normalized_or_none(a) for a in question["to_addrs"] + question["cc_addrs"] + question["bcc_addrs"]) if n
    )
    key = decision_links.secret_in(tx)
    sent_to = [*envelope_recipients, *mail.to, *mail.cc]
    dmarc = authentication.get("dmarc")
    facts = ReplyFacts(
        question_status=question["status"],
        question_decided=decision_links.already_decided(tx, question, thread) is not None,
        sender=normalized_or_none(mail.from_addr) if mail.from_addr else None,
        addressees=addressees,
        local_delivery=bool(authentication.get("local_delivery")),
        auto_submitted=bool(mail.auto_submitted),
        dmarc_result=dmarc.get("result") if isinstance(dmarc, dict) else None,
        to_reply_address=key is not None and any(decision_links.is_reply_address(key, question["id"], a) for a in sent_to),
        require_dmarc=require_dmarc,
    )
    verdict = judge_reply(facts)
    decision = None
    reason = verdict.reason
    if reason is None:
        decision = decision_of(mail, question["options"] or [], reply_text=reply_text)
        if decision is None:
            reason = UNCLEAR
    return {
        "outcome": "decided" if decision is not None else "unverified",
        "decision": decision,
        "reason": reason,
        "description": REASONS.get(reason) if reason else None,
        "proof": verdict.proof,
        "question_message_id": question["id"],
    }


def _record_check(tx: Connection, now: datetime, mailbox: dict[str, Any], row: dict[str, Any], check: dict[str, Any]) -> None:
    base = {"thread_id": row["thread_id"], "message_id": row["id"], "question_message_id": check["question_message_id"]}
    if check["outcome"] == "decided":
        record(tx, at=now, principal=None, action="decision.received", mailbox=mailbox, message=row,
               details={"decision": check["decision"], "question_message_id": check["question_message_id"], "proof": check["proof"]},
               event="decision.received", event_data={**base, "decision": check["decision"], "proof": check["proof"],
                                                      "from": row["from_addr"]})
        return
    details = {"question_message_id": check["question_message_id"], "reason": check["reason"]}
    record(tx, at=now, principal=None, action="decision.unverified", mailbox=mailbox, message=row, details=details,
           event="decision.unverified", event_data={**base, "reason": check["reason"], "description": check["description"],
                                                    "from": row["from_addr"]})
    if check["reason"] == UNCLEAR:
        # The earlier event for the same case, kept for subscribers written before decision.unverified.
        record(tx, at=now, principal=None, action="decision.unclear", mailbox=mailbox, message=row,
               details={"question_message_id": check["question_message_id"]},
               event="decision.unclear", event_data=base)


def deliver_locally(tx: Connection, *, mailbox: dict[str, Any], raw: bytes, sender: dict[str, Any], now: datetime,
                    raw_sha256: str | None = None) -> dict[str, Any] | None:
    """Mail from one hosted mailbox to another: the server itself vouches for the sender, but the
    sender is an API key, so such a message never decides a question (core/decision_proof)."""
    return store_inbound(tx, mailbox=mailbox, raw=raw, now=now, raw_sha256=raw_sha256,
                         authentication={"local_delivery": True, "verified_sender": True, "sender_mailbox": sender["address"]})


def hosted_mailbox(tx: Connection, address: str) -> dict[str, Any] | None:
    """The mailbox that takes mail for `address`: itself, or with a `+tag` removed
    (plus-addressing: `agent+anything@` reaches `agent@`; a question's private reply address is
    such a tag)."""
    normalized = normalized_or_none(address)
    if normalized is None:
        return None
    box = mailbox_q.by_address(tx, normalized)
    if box is None:
        base, tag = split_plus_tag(normalized)
        if tag is not None:
            box = mailbox_q.by_address(tx, base)
    return box


def is_hosted(ctx, address: str) -> bool:
    """Whether the server accepts mail for `address` (the SMTP RCPT check)."""
    with ctx.store.read() as tx:
        return hosted_mailbox(tx, address) is not None


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


def receive(ctx, *, raw: bytes, mail_from: str, rcpt_tos: list[str], authentication: dict[str, Any] | None = None,
            spam: dict[str, Any] | None = None) -> list[str]:
    """Store one message for each hosted recipient in one transaction; returns the new ids.
    Called by the SMTP receiver before it answers 250, so an accepted message is durable.

    Everything expensive happens before the write transaction: parsing, hashing, and stripping
    quoted history from a reply (mail/replies.py, bounded in size and time), so one crafted
    message cannot hold the write lock while a regular expression backtracks."""
    prepared = prepare_inbound(ctx, raw=raw, rcpt_tos=rcpt_tos, authentication=authentication, spam=spam)
    with ctx.store.write() as tx:
        return store_prepared(tx, ctx, prepared)


def prepare_inbound(ctx, *, raw: bytes, rcpt_tos: list[str], authentication: dict[str, Any] | None = None,
                    spam: dict[str, Any] | None = None) -> dict[str, Any]:
    """The part of `receive` outside any transaction (parsing, the reply text, a bounce report);
    `spam` is rspamd's verdict when there is one, carried to store_inbound.
    Split out so the SMTP receiver can store several prepared messages in one transaction (its
    group commit, smtp/server.py)."""
    mail = _parse_inbound(raw)
    reply_text = new_text(mail.text) if (mail.in_reply_to or mail.references) else None
    # Mail to a VERP address (a bounce or complaint about one of our messages) goes to
    # services/bounces.py, not to an inbox; its report is read here, outside the transaction.
    returned = [r for r in dict.fromkeys(normalized_or_none(r) for r in rcpt_tos) if r and bounces.is_bounce_address(r)]
    report = bounces.read_report(raw) if returned else None
    return {"raw": raw, "rcpt_tos": list(rcpt_tos), "authentication": authentication, "spam": spam, "mail": mail,
            "reply_text": reply_text, "returned": returned, "report": report, "now": ctx.now()}


@contextlib.contextmanager
def batch_transaction(ctx) -> Iterator[Connection]:
    """One write transaction for several received messages (the SMTP receiver's group commit),
    each then stored by `store_prepared`: the webhook subscriptions their events are matched
    against are read once for the batch, not once an event."""
    with ctx.store.write() as tx, records.subscriptions_read_once(tx):
        yield tx


def store_prepared(tx, ctx, prepared: dict[str, Any], *, mailboxes: dict[str, dict[str, Any] | None] | None = None) -> list[str]:
    """The part of `receive` inside the write transaction `tx`: the new ids.

    `mailboxes` memoises recipient lookups for the rest of `tx` (the SMTP group commit passes one
    per batch: its messages mostly go to the same few mailboxes, and nothing stored here changes
    a mailbox row)."""
    raw, rcpt_tos, returned, report, now = (prepared[k] for k in ("raw", "rcpt_tos", "returned", "report", "now"))
    stored = []
    boxes: dict[str, dict[str, Any]] = {}
    for address in returned:
        assert report is not None
        box = bounces.handle(tx, address=address, report=report, raw_sha256=hashlib.sha256(raw).hexdigest(), now=now)
        if box is not None:  # a genuine VERP address, but not a report: ordinary mail
            boxes.setdefault(box["id"], box)
    for rcpt in rcpt_tos:
        if (normalized_or_none(rcpt) or rcpt) in returned:
            continue
        if mailboxes is None:
            box = hosted_mailbox(tx, rcpt)
        elif rcpt in mailboxes:
            box = mailboxes[rcpt]
        else:
            box = mailboxes[rcpt] = hosted_mailbox(tx, rcpt)
        if box is not None:
            boxes.setdefault(box["id"], box)
    digest = keep_raw(tx, raw, now) if boxes else ""
    for box in boxes.values():
        row = store_inbound(tx, mailbox=box, raw=raw, now=now, authentication=prepared["authentication"],
                            parsed=prepared["mail"], reply_text=prepared["reply_text"], envelope_recipients=list(rcpt_tos),
                            raw_sha256=digest, require_dmarc=ctx.settings.decisions_require_verified_sender,
                            spam=prepared["spam"], ctx=ctx)
        if row is not None:
            stored.append(row["id"])
    return stored
