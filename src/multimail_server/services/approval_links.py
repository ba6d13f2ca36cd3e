"""The page behind an approval link (`/a/{token}`, services/approval_notices.py mints them): what
a GET shows, and the single POST that approves or rejects.

A link is refused, changing nothing, when it is not genuine, was used, expired, was sent for a
version of the message that has since been edited (stale), or when the message was decided
meanwhile; each says so on the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ..core.approval_policy import HeldPolicy, distinct_approvers
from ..core.errors import Conflict
from ..store import approvals as approval_q
from ..store import mailboxes as mailbox_q
from ..store import messages as message_q
from . import decision_links
from .approval_notices import approvers_of, email_principal, verify_token
from .approvals import approve_held, reject_held
from .views import attachment_items, message_version, recipient_headers, shown_text


@dataclass
class ApprovalLinkState:
    """What an approval link is: `status` is open, used, expired, stale (the message changed since
    this link was sent), decided (approved, rejected or withdrawn meanwhile), invalid, or after a
    POST approved / approval_recorded (N of M, more needed) / rejected / suppressed (a recipient
    was suppressed since the message was held: not approved; `outcome` says which and why)."""

    status: str
    approver: str | None = None
    mailbox: str | None = None
    message: dict[str, Any] = field(default_factory=dict)
    required: int = 1
    approvals: list[str] = field(default_factory=list)
    outcome: str | None = None


def _state(tx: Connection, nonce: str | None, now: datetime):
    if nonce is None:
        return ApprovalLinkState("invalid"), None, None, None
    link = approval_q.link_by_nonce(tx, nonce)
    msg = message_q.by_id(tx, link["message_id"]) if link else None
    mailbox = mailbox_q.by_id(tx, msg["mailbox_id"]) if msg else None
    if link is None or msg is None or mailbox is None:
        return ApprovalLinkState("invalid"), None, None, None
    attachments = message_q.attachments_of(tx, msg["id"], with_content=True)
    policy = HeldPolicy.from_json(msg.get("approval_policy"))
    shown = {"message_id": msg["id"], "headers": recipient_headers(msg, attachments), "body": shown_text(msg),
             "attachments": attachment_items(attachments), "approval_status": msg["approval_status"],
             "decided_by": msg["decided_by"], "decision_note": msg["decision_note"]}
    state = ApprovalLinkState("open", approver=link["approver"], mailbox=mailbox["address"], message=shown,
                              required=policy.required, approvals=distinct_approvers(msg.get("approvals")), outcome=link["outcome"])
    if link["used_at"] is not None:
        state.status = "used"
    elif msg["approval_status"] != "pending":
        state.status = "decided"
    elif link["expires_at"] <= now:
        state.status = "expired"
    elif message_version(msg, attachments) != link["content_hash"]:
        state.status = "stale"
    elif link["approver"] not in approvers_of(mailbox, policy):
        state.status = "invalid"  # no longer an approver of this mailbox
    return state, link, msg, mailbox


def inspect_link(ctx, token: str) -> ApprovalLinkState:
    """What GET shows; changes nothing."""
    nonce = verify_token(decision_links.secret(ctx), token)
    with ctx.store.read() as tx:
        state, _, _, _ = _state(tx, nonce, ctx.now())
    return state


def use_link(ctx, token: str, *, action: str, reason: str | None = None) -> ApprovalLinkState:
    """Approve or reject through the link, once; the approval counts for its approver (N of M)."""
    nonce = verify_token(decision_links.secret(ctx), token)
    now = ctx.now()
    try:
        return _use(ctx, nonce, now, action, reason)
    except Conflict as exc:  # decided or edited between the page's check and the lock, or a recipient
        state = inspect_link(ctx, token)  # suppressed since it was held: nothing changed
        if state.status == "open":
            state.status = {"content_changed": "stale", "suppressed": "suppressed"}.get(exc.code or "", "decided")
            state.outcome = exc.message if exc.code == "suppressed" else state.outcome
        return state


def _use(ctx, nonce: str | None, now: datetime, action: str, reason: str | None) -> ApprovalLinkState:
    with ctx.store.write() as tx:
        state, link, msg, mailbox = _state(tx, nonce, now)
        if state.status != "open" or action not in ("approve", "reject"):
            return state
        assert link is not None and msg is not None and mailbox is not None
        msg = message_q.by_id(tx, msg["id"], lock=True) or msg
        if msg["approval_status"] != "pending":
            state.status = "decided"
            return state
        if not approval_q.claim_link(tx, link["id"], now, "approved" if action == "approve" else "rejected"):
            state.status = "used"
            return state
        who = email_principal(link["approver"], mailbox)
        via = {"via": "approval_link", "link_id": link["id"], "approver": link["approver"]}
        if action == "approve":
            item = approve_held(tx, now=now, principal=who, msg=msg, mailbox=mailbox, content_hash=link["content_hash"], via=via)
            state.status = "approved" if item["status"] == "approved" else "approval_recorded"
            state.approvals = [a["by"] for a in item["approvals"]]
        else:
            reject_held(tx, now=now, principal=who, msg=msg, mailbox=mailbox, reason=(reason or "").strip()[:2000] or None, via=via)
            state.status = "rejected"
    return state
