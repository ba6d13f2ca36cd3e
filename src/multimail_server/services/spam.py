"""Spam: a verdict on each inbound message, the quarantine, and report_spam / not_spam.

At receive time the SMTP handler asks rspamd (`rspamd_verdict`, when `rspamd_url` is set) before
anything is stored; `receiving.store_inbound` then keeps that verdict, or computes the built-in
baseline (core/spam.py) when there is none or rspamd did not answer: a filter that is down never
loses mail, it only loses its opinion (logged, and counted in `multimail_spam_checks`).

Quarantined and flagged mail stays stored and readable by id; check_inbox, claim_messages and the
`message.received` webhook leave it out unless asked (`include_spam`), `message.spam` announces it
instead, and `list_spam` shows it. `not_spam` brings a message into the inbox (unread, and with
the `message.received` event its subscribers missed); `report_spam` moves one into quarantine.

Who may do what. Any key that may read the mailbox may report or release its mail: the quarantine
only decides what is *listed* to whoever reads that mailbox, it is not an oversight gate. An agent
that marks a phishing mail not-spam changes what it reads itself, which it could read by id anyway;
it can send nothing it could not send before (every send still goes through oversight). What an
agent key may not do is train rspamd: the classifier is shared by every mailbox of the server, so
a prompt-injected agent teaching it that phishing is ham (or a competitor's mail is spam) would
change other mailboxes' verdicts. Only approver and admin keys (humans) train it; an agent's
label is kept and audited all the same.
"""

from __future__ import annotations

import logging
from typing import Any

from ..core.access import Principal, Scope, require_scope
from ..core.errors import BadRequest
from ..core.spam import (
    LABEL_NOT_SPAM,
    LABEL_SPAM,
    QUARANTINED,
    STATES,
    MailFacts,
    baseline,
    from_rspamd,
    state_of,
)
from ..delivery.rspamd import RspamdClient, RspamdUnavailable
from ..mail.parse import ParsedMail
from ..store import mailboxes as mailbox_q
from ..store import message_lists as list_q
from ..store import messages as message_q
from ..store import spam as spam_q
from .common import find_mailbox, find_message, record
from .context import Context
from .metrics import metrics_for
from .reading import check_limit, decode_cursor, encode_cursor
from .views import inbox_item, spam_view

log = logging.getLogger("multimail_server.spam")

UNAVAILABLE = "rspamd_error"  # the key of a verdict request that failed (receiving falls back to the baseline)


def rspamd_client(ctx: Context) -> RspamdClient | None:
    s = ctx.settings
    if not s.rspamd_url:
        return None
    return RspamdClient(s.rspamd_url, controller_url=s.rspamd_controller_url, password=s.rspamd_password,
                        timeout=s.rspamd_timeout_seconds)


async def rspamd_verdict(ctx: Context, *, raw: bytes, ip: str | None, helo: str | None, mail_from: str | None,
                         rcpts: list[str]) -> dict[str, Any] | None:
    """rspamd's verdict on an inbound message; None when no rspamd is configured, and
    `{UNAVAILABLE: why}` when it did not answer (the receiver then uses the baseline)."""
    if not ctx.settings.rspamd_url:
        return None
    try:
        client = rspamd_client(ctx)
        assert client is not None
        return from_rspamd(await client.check(raw, ip=ip, helo=helo, mail_from=mail_from or None, rcpts=rcpts))
    except Exception as exc:  # RspamdUnavailable, or anything unforeseen: the mail is accepted all the same
        why = str(exc) if isinstance(exc, RspamdUnavailable) else f"{type(exc).__name__}: {exc}"[:300]
        log.warning("rspamd did not answer (%s); the baseline verdict decides", why, extra={"rspamd_error": why})
        return {UNAVAILABLE: why}


def inbound_verdict(ctx: Context, *, given: dict[str, Any] | None, mail: ParsedMail, authentication: dict[str, Any],
                    mailbox: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The verdict stored with an inbound message and its quarantine state: rspamd's when it
    answered, else the baseline (noting why rspamd did not decide)."""
    if given and UNAVAILABLE not in given:
        verdict = given
    else:
        verdict = baseline(MailFacts(authentication=authentication or {}, from_addr=mail.from_addr, reply_to=mail.reply_to,
                                     subject=mail.subject, text=mail.text))
        if given:
            verdict["rspamd_error"] = str(given[UNAVAILABLE])[:300]
    threshold = mailbox.get("spam_threshold")
    state = state_of(verdict, float(threshold if threshold is not None else ctx.settings.spam_threshold))
    outcome = "rspamd_unavailable" if verdict.get("rspamd_error") else (state or "ham")
    metrics_for(ctx).spam_checks.labels(source=verdict["source"], outcome=outcome).inc()
    return verdict, state


def list_spam(ctx: Context, *, principal: Principal, mailbox: str | None = None, state: str | None = None,
              limit: int | None = None, cursor: str | None = None) -> dict[str, Any]:
    """The quarantine, newest first: of one mailbox, or of every mailbox the key may use.
    `state`: only `flagged` or only `quarantined` (default both)."""
    require_scope(principal.scopes, Scope.READ, "read mail")
    limit = check_limit(limit)
    before = decode_cursor(cursor)
    if state is not None and state not in STATES:
        raise BadRequest("state must be flagged or quarantined.", code="invalid_field",
                         details={"field": "state", "allowed": list(STATES)})
    with ctx.store.read() as tx:
        boxes = [find_mailbox(tx, principal, mailbox)] if mailbox else mailbox_q.list_all(tx, principal.mailboxes)
        address = {b["id"]: b["address"] for b in boxes}
        rows = spam_q.spam_page(tx, mailbox_ids=list(address), states=[state] if state else list(STATES),
                                before_seq=before, limit=limit + 1)
        page, more = rows[:limit], len(rows) > limit
        tags = message_q.tags_of(tx, [r["id"] for r in page])
        carrying = list_q.with_attachments(tx, [r["id"] for r in page])
    return {
        "messages": [{**inbox_item(r, tags[r["id"]]), "mailbox": address[r["mailbox_id"]], "has_attachments": r["id"] in carrying,
                      "spam": spam_view(r)} for r in page],
        "next_cursor": encode_cursor(page[-1]["seq"]) if more else None,
    }


def _train(ctx: Context, principal: Principal, raw: bytes | None, *, spam: bool) -> tuple[bool | None, str]:
    """Teach rspamd, when configured and the key is a human's; never fails the caller."""
    client = rspamd_client(ctx)
    if client is None:
        return None, "no rspamd is configured"
    if Scope.OVERSIGHT not in principal.scopes:
        return False, "agent keys do not train the shared filter (only approver and admin keys do)"
    if not raw:
        return False, "the message's bytes are not kept"
    outcome = client.learn(raw, spam=spam)
    if not outcome["learned"]:
        log.warning("rspamd did not learn from a %s report: %s", "spam" if spam else "ham", outcome["detail"])
    return bool(outcome["learned"]), str(outcome["detail"])


def _mark(ctx: Context, *, principal: Principal, message_id: str, spam: bool) -> dict[str, Any]:
    require_scope(principal.scopes, Scope.READ, "report spam")
    with ctx.store.read() as tx:
        msg, box = find_message(tx, principal, message_id)
        if msg["direction"] != "inbound":
            raise BadRequest("Only received mail can be reported as spam or not spam.", code="not_inbound",
                             details={"message_id": message_id})
        raw = message_q.raw_of(tx, msg)
    # Training talks to rspamd: outside any transaction, before the label is written (so the
    # audit event says whether it learned).
    trained, training = _train(ctx, principal, raw, spam=spam)
    now = ctx.now()
    label = LABEL_SPAM if spam else LABEL_NOT_SPAM
    with ctx.store.write() as tx:
        msg, box = find_message(tx, principal, message_id, lock=True)
        before = msg.get("spam_state")
        state = QUARANTINED if spam else None
        released = before is not None and not spam
        spam_q.set_state(tx, msg["id"], state=state, label=label, read=False if released else None)
        msg = {**msg, "spam_state": state, "spam_label": label, "read": False if released else msg["read"]}
        details = {"before": before, "after": state, "trained": trained, "training": training}
        tags = message_q.tags_of(tx, [msg["id"]])[msg["id"]]
        if released:
            # It joins the inbox now: subscribers to message.received hear of it as of any new mail.
            data = {**inbox_item(msg, tags), "body": msg["body_text"],
                    "authentication": (msg.get("metadata") or {}).get("authentication"), "released_from_spam": True}
            record(tx, at=now, principal=principal, action="message.not_spam", mailbox=box, message=msg, details=details,
                   event="message.received", event_data=data)
        else:
            record(tx, at=now, principal=principal, action="message.reported_spam" if spam else "message.not_spam",
                   mailbox=box, message=msg, details=details)
    return {"message_id": msg["id"], "spam": spam_view(msg), "read": bool(msg["read"]), "trained": trained,
            "training": training}


def report_spam(ctx: Context, *, principal: Principal, message_id: str) -> dict[str, Any]:
    """Move a received message into quarantine (and, for a human's key, teach rspamd it is spam)."""
    return _mark(ctx, principal=principal, message_id=message_id, spam=True)


def not_spam(ctx: Context, *, principal: Principal, message_id: str) -> dict[str, Any]:
    """Bring a message out of quarantine into the inbox, unread (and, for a human's key, teach
    rspamd it is ham). On a message that is not spam it only records the label."""
    return _mark(ctx, principal=principal, message_id=message_id, spam=False)
