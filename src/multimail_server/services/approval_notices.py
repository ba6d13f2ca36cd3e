"""Approvers by email: the notice each approver gets when a message is held, its signed single-use
link, the private reply address, and the digest of a monitored mailbox.

A notice is a system message of the held message's mailbox (kind `approval_request`, never held
itself): one per approver, queued in the outbox in the transaction that held (or edited, or
escalated) the message, so it goes out through the delivery worker like any outbound mail and is
never lost nor sent twice. Its stored body shows the held message as it will go out; the delivery
worker adds, only to the copy that goes to an external approver (`Copies` in services/delivery):

- a link `{base_url}/a/{nonce}.{mac}` (the same HMAC key and token shape as decision links,
  services/decision_links.py) to a confirmation page. The `approval_links` row binds it to the
  message, the approver and the content version it was sent for, and expires
  (settings.approval_link_ttl_seconds). GET only shows the message and a form; only POST decides,
  once: link scanners that prefetch never approve.
- a Reply-To of `<local>+a_<HMAC(message, approver)>@<domain>`: a reply that reaches it proves it
  answers the notice this approver got (services/approval_replies.py).

A hosted approver (a mailbox on this server, which an API key reads) gets the notice without
either: the same trust rule as decision links.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from ..core.access import ROLE_SCOPES, Principal, Role
from ..core.addresses import ParsedAddress, normalized_or_none
from ..core.approval_policy import HeldPolicy, distinct_approvers
from ..core.decision_secrets import APPROVAL_TAG_PREFIX, REPLY_SECRET_LENGTH, split_plus_tag
from ..core.ids import domain_of, new_id
from ..mail.approval_notice import digest_text, links_section, notice_text
from ..mail.compose import new_internet_message_id
from ..store import approvals as approval_q
from ..store import messages as message_q
from ..store import outbox as outbox_q
from . import decision_links
from .common import iso, record
from .views import attachment_items, message_version, recipient_headers, shown_text, snippet

KIND = "approval_request"
DIGEST_KIND = "approval_digest"
SYSTEM_KINDS = (KIND, DIGEST_KIND)
LINK_PREFIX = "/a/"


def token_for(key: bytes, nonce: str) -> str:
    return f"{nonce}.{decision_links._b64(decision_links._mac(key, 'approval-link', nonce)[:16])}"


def verify_token(key: bytes, token: str) -> str | None:
    if not isinstance(token, str) or len(token) > 100 or token.count(".") != 1:
        return None
    nonce, _ = token.split(".")
    if not nonce or not hmac.compare_digest(token_for(key, nonce).encode(), token.encode()):
        return None
    return nonce


def reply_secret(key: bytes, message_id: str, approver: str) -> str:
    mac = decision_links._mac(key, "approval-reply", message_id, approver)[:15]
    return APPROVAL_TAG_PREFIX + base64.b32encode(mac).decode().lower()[:REPLY_SECRET_LENGTH]


def reply_address(key: bytes, message_id: str, approver: str, mailbox_address: str) -> str:
    local, _, domain = mailbox_address.rpartition("@")
    return f"{local}+{reply_secret(key, message_id, approver)}@{domain}"


def is_reply_address(key: bytes, message_id: str, approver: str, address: str | None) -> bool:
    if not address:
        return False
    _, tag = split_plus_tag(normalized_or_none(address) or address)
    return tag is not None and hmac.compare_digest(tag.lower().encode(), reply_secret(key, message_id, approver).encode())


def email_principal(approver: str, mailbox: dict[str, Any]) -> Principal:
    """An approver acting by email: audited with their address as the actor, for this mailbox only."""
    return Principal(key_id=None, scopes=ROLE_SCOPES[Role.APPROVER], mailboxes=frozenset({mailbox["address"]}), label=approver)


def approvers_of(mailbox: dict[str, Any], policy: HeldPolicy) -> list[str]:
    """Who may approve a held message by email now: the mailbox's approvers, and once the message
    was escalated, its escalation approvers too."""
    people = list(mailbox.get("approvers") or [])
    if policy.escalated:
        people += [a for a in mailbox.get("escalate_to") or [] if a not in people]
    return people


# --- notices ---------------------------------------------------------------------------------------


def notify(tx: Connection, *, msg: dict[str, Any], mailbox: dict[str, Any], approvers: list[str], now: datetime,
           link_ttl_seconds: int, reason: str = "held") -> list[str]:
    """Queue one notice per approver for the held message `msg` (in the caller's transaction);
    returns the notice ids. `reason`: held, edited or escalated."""
    if not approvers:
        return []
    attachments = message_q.attachments_of(tx, msg["id"], with_content=True)
    version = message_version(msg, attachments)
    policy = HeldPolicy.from_json(msg.get("approval_policy"))
    text = notice_text(
        mailbox=mailbox["address"], headers=recipient_headers(msg, attachments), body=shown_text(msg),
        attachments=attachment_items(attachments), required=policy.required,
        approvals=len(distinct_approvers(msg.get("approvals"))), due=iso(msg.get("approval_due_at")),
        on_timeout=("reject" if policy.escalated else policy.on_timeout), escalated=reason == "escalated", reason=reason)
    expires = now + timedelta(seconds=link_ttl_seconds)
    ids = []
    for approver in approvers:
        notice_id = new_id("msg")
        nonce = decision_links._b64(secrets.token_bytes(18))
        approval_q.insert_link(tx, {"id": nonce, "message_id": msg["id"], "approver": approver, "content_hash": version,
                                    "notification_id": notice_id, "expires_at": expires, "used_at": None, "outcome": None})
        thread_id = new_id("thr")
        subject = f"Approval needed: {msg['subject']}"[:998]
        message_q.insert_thread(tx, {"id": thread_id, "mailbox_id": mailbox["id"], "subject": subject, "created_at": now,
                                     "last_message_at": now})
        message_q.insert_message(tx, {
            "id": notice_id, "mailbox_id": mailbox["id"], "thread_id": thread_id, "direction": "outbound",
            "status": "queued", "approval_status": None, "oversight_mode": None, "kind": KIND,
            "internet_message_id": new_internet_message_id(notice_id, domain_of(mailbox["address"])),
            "in_reply_to": None, "references": [], "parent_id": None, "is_reply": False,
            "from_addr": ParsedAddress("MultiMail approvals", mailbox["address"]).formatted(),
            "to_addrs": [approver], "cc_addrs": [], "bcc_addrs": [], "reply_to": [],
            "subject": subject, "body_text": text, "body_html": None, "options": None,
            "metadata": {"approval_request": {"message_id": msg["id"], "approver": approver, "content_hash": version,
                                              "reason": reason, "expires_at": iso(expires)}},
            "flow_run_id": None, "read": True, "created_by": None, "created_at": now,
        })
        outbox_q.enqueue(tx, notice_id, now)
        ids.append(notice_id)
    record(tx, at=now, principal=None, action="approval.notified", mailbox=mailbox, message=msg,
           details={"approvers": approvers, "notices": ids, "content_hash": version, "reason": reason})
    return ids


def on_held(tx: Connection, ctx, *, msg: dict[str, Any], mailbox: dict[str, Any]) -> None:
    """A message was just held (in the holding transaction): its approvers are notified by email."""
    people = approvers_of(mailbox, HeldPolicy.from_json(msg.get("approval_policy")))
    if people:
        msg = message_q.by_id(tx, msg["id"]) or msg  # the stored row, with every column
        notify(tx, msg=msg, mailbox=mailbox, approvers=people, now=msg["created_at"],
               link_ttl_seconds=ctx.settings.approval_link_ttl_seconds)


def notice_info(msg: dict[str, Any]) -> dict[str, Any] | None:
    """What a notice message is about (its metadata), or None for any other message."""
    if msg.get("kind") != KIND:
        return None
    return (msg.get("metadata") or {}).get("approval_request")


def external_copy_parts(tx: Connection, msg: dict[str, Any], mailbox: dict[str, Any], base_url: str) -> tuple[str, list[str]]:
    """The text and Reply-To of the copy of a notice that goes to an external approver."""
    info = notice_info(msg) or {}
    key = decision_links.secret_in(tx)
    assert key is not None  # created before any notice (on_held)
    link = approval_q.link_of_notice(tx, msg["id"])
    assert link is not None  # written with the notice
    url = f"{base_url}{LINK_PREFIX}{token_for(key, link['id'])}"
    text = msg["body_text"] + links_section(url, info.get("expires_at"))
    return text, [reply_address(key, info["message_id"], info["approver"], mailbox["address"])]


def hosted_copy_text(msg: dict[str, Any]) -> str:
    return msg["body_text"] + links_section(None, None)


def queue_digest(tx: Connection, *, mailbox: dict[str, Any], items: list[dict[str, Any]], start: datetime | None,
                 end: datetime, now: datetime) -> list[str]:
    """One digest message per approver of what the monitored mailbox sent in (start, end]."""
    approvers = list(mailbox.get("approvers") or [])
    if not items or not approvers:
        return []
    lines = [{"message_id": m["id"], "sent_at": iso(m["sent_at"]), "to": ", ".join(m["to_addrs"]),
              "cc": ", ".join(m["cc_addrs"]), "subject": m["subject"], "snippet": snippet(shown_text(m))} for m in items]
    text = digest_text(mailbox=mailbox["address"], start=iso(start) or "the start", end=iso(end) or "", items=lines)
    subject = f"Digest: {len(items)} message{'' if len(items) == 1 else 's'} sent by {mailbox['address']}"
    ids = []
    for approver in approvers:
        digest_id, thread_id = new_id("msg"), new_id("thr")
        message_q.insert_thread(tx, {"id": thread_id, "mailbox_id": mailbox["id"], "subject": subject, "created_at": now,
                                     "last_message_at": now})
        message_q.insert_message(tx, {
            "id": digest_id, "mailbox_id": mailbox["id"], "thread_id": thread_id, "direction": "outbound",
            "status": "queued", "approval_status": None, "oversight_mode": None, "kind": DIGEST_KIND,
            "internet_message_id": new_internet_message_id(digest_id, domain_of(mailbox["address"])),
            "in_reply_to": None, "references": [], "parent_id": None, "is_reply": False,
            "from_addr": ParsedAddress("MultiMail digest", mailbox["address"]).formatted(),
            "to_addrs": [approver], "cc_addrs": [], "bcc_addrs": [], "reply_to": [],
            "subject": subject, "body_text": text, "body_html": None, "options": None,
            "metadata": {"approval_digest": {"from": iso(start), "until": iso(end), "message_ids": [m["id"] for m in items]}},
            "flow_run_id": None, "read": True, "created_by": None, "created_at": now,
        })
        outbox_q.enqueue(tx, digest_id, now)
        ids.append(digest_id)
    record(tx, at=now, principal=None, action="approval.digest_queued", mailbox=mailbox,
           details={"approvers": approvers, "digests": ids, "from": iso(start), "until": iso(end),
                    "message_ids": [m["id"] for m in items]})
    return ids
