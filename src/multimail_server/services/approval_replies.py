"""An approver's reply to an approval notice: "approve" or "reject <reason>".

The proof rules are the decision replies' (core/decision_proof.judge_reply): the notice went out,
the reply is not local delivery (an agent) nor an auto-reply, it is From the approver the notice
was sent to, DMARC did not fail, and it proves itself by DMARC pass or by reaching the notice's
private reply address (`+a_` tag, only in the external copy). On top of those: the approver must
still be one of the mailbox's approvers, the held message must still be pending and have the
content version the notice showed (an edit meanwhile makes the reply stale), and the first line
of the new text must say approve or reject. Every refusal is kept on the reply
(`metadata.approval_check`) and in an `approval.reply_refused` audit event, with its reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ..core.addresses import normalized_or_none
from ..core.approval_policy import HeldPolicy, parse_reply
from ..core.decision_proof import REASONS, ReplyFacts, judge_reply
from ..core.errors import MultiMailError
from ..mail.parse import ParsedMail
from ..mail.replies import new_text
from ..store import mailboxes as mailbox_q
from ..store import messages as message_q
from . import approval_notices, decision_links
from .approvals import approve_held, reject_held
from .common import record
from .views import message_version

NOT_AN_APPROVER = "not_an_approver"
CONTENT_CHANGED = "content_changed"
ALREADY_DECIDED = "already_decided"
UNCLEAR = "unclear"

_REASONS = {
    **REASONS,
    "question_not_sent": "The approval notice has not gone out yet.",
    "question_closed": "The message was already decided.",
    "not_an_addressee": "The reply's From address is not the approver this notice was sent to.",
    "no_proof": "Nothing proves the reply comes from the approver: DMARC did not pass and it was not sent to the "
    "notice's private reply address.",
    NOT_AN_APPROVER: "The sender is no longer an approver of this mailbox.",
    CONTENT_CHANGED: "The message was edited after this notice was sent; answer the newer notice.",
    ALREADY_DECIDED: "The message was already approved, rejected or withdrawn.",
    UNCLEAR: "The reply's first line says neither \"approve\" nor \"reject <reason>\".",
}


def check_reply(tx: Connection, *, notice: dict[str, Any], mail: ParsedMail, authentication: dict[str, Any],
                reply_text: str | None, envelope_recipients: list[str], require_dmarc: bool) -> dict[str, Any] | None:
    """Whether this reply to `notice` approves or rejects its held message (module docstring)."""
    info = approval_notices.notice_info(notice)
    if not info:
        return None
    held = message_q.by_id(tx, info["message_id"], lock=True)
    mailbox = mailbox_q.by_id(tx, notice["mailbox_id"])
    approver = info["approver"]
    base = {"message_id": info["message_id"], "approver": approver}
    if held is None or mailbox is None:
        return {**base, "outcome": "unverified", "action": None, "reason": ALREADY_DECIDED, "description": _REASONS[ALREADY_DECIDED], "proof": None}
    key = decision_links.secret_in(tx)
    sent_to = [*envelope_recipients, *mail.to, *mail.cc]
    dmarc = authentication.get("dmarc")
    verdict = judge_reply(ReplyFacts(
        question_status=notice["status"],
        question_decided=False,
        sender=normalized_or_none(mail.from_addr) if mail.from_addr else None,
        addressees=frozenset({approver}),
        local_delivery=bool(authentication.get("local_delivery")),
        auto_submitted=bool(mail.auto_submitted),
        dmarc_result=dmarc.get("result") if isinstance(dmarc, dict) else None,
        to_reply_address=key is not None and any(approval_notices.is_reply_address(key, held["id"], approver, a) for a in sent_to),
        require_dmarc=require_dmarc,
    ))
    reason = verdict.reason
    said = parse_reply(reply_text if reply_text is not None else new_text(mail.text))
    if reason is None and approver not in approval_notices.approvers_of(mailbox, HeldPolicy.from_json(held.get("approval_policy"))):
        reason = NOT_AN_APPROVER
    if reason is None and held["approval_status"] != "pending":
        reason = ALREADY_DECIDED
    if reason is None and said is None:
        reason = UNCLEAR
    if reason is None and said is not None and said[0] == "approve":
        attachments = message_q.attachments_of(tx, held["id"], with_content=True)
        if message_version(held, attachments) != info["content_hash"]:
            reason = CONTENT_CHANGED
    return {**base, "outcome": "unverified" if reason else "accepted", "action": said[0] if said else None,
            "reason_given": said[1] if said else None, "reason": reason,
            "description": _REASONS.get(reason) if reason else None, "proof": verdict.proof,
            "content_hash": info["content_hash"]}


def apply(tx: Connection, *, now: datetime, reply: dict[str, Any], check: dict[str, Any]) -> None:
    """Act on a checked reply (stored as `reply`): approve or reject, or audit why not."""
    held = message_q.by_id(tx, check["message_id"])
    mailbox = mailbox_q.by_id(tx, reply["mailbox_id"])
    details = {"reply_message_id": reply["id"], "approver": check["approver"], "reason": check["reason"],
               "description": check["description"], "from": reply["from_addr"]}
    if check["outcome"] != "accepted" or held is None or mailbox is None:
        record(tx, at=now, principal=None, action="approval.reply_refused", mailbox=mailbox, message=held, details=details)
        return
    who = approval_notices.email_principal(check["approver"], mailbox)
    via = {"via": "approval_reply", "reply_message_id": reply["id"], "proof": check["proof"]}
    try:
        if check["action"] == "approve":
            approve_held(tx, now=now, principal=who, msg=held, mailbox=mailbox, content_hash=check["content_hash"], via=via)
        else:
            reject_held(tx, now=now, principal=who, msg=held, mailbox=mailbox, reason=check["reason_given"], via=via)
    except MultiMailError as exc:  # decided or changed between the check and now (same transaction: not expected)
        record(tx, at=now, principal=None, action="approval.reply_refused", mailbox=mailbox, message=held,
               details={**details, "reason": getattr(exc, "code", "refused")})
