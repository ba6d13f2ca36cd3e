"""Signed one-click decision links: one per option of a decide_email question.

A link is `{base_url}/d/{token}` with `token = nonce "." HMAC-SHA256(secret, nonce)` (base64url,
truncated to 128 bits). The secret is a random 256-bit key kept in `server_keys` (kind
"link-hmac"); the `decision_links` row (id = nonce) names the question and the option, its expiry
(settings.decision_link_ttl_seconds after the question was created) and, once used, when and which
message recorded the decision. Opening a link (GET) never decides — mail scanners prefetch links —
it only shows a confirmation form; POST decides, once.

Nonces are random. The links are written in the question's own transaction, after its
idempotency slot was taken, so a retried decide_email returns the first question (with its links)
and creates none; idempotency fingerprints the question without its links.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..core.ids import domain_of, new_id
from ..core.threading import reply_subject
from ..store import mailboxes as mailbox_q
from ..store import messages as message_q
from ..store.tables import decision_links, server_keys
from .common import record
from .context import Context

KIND = "link-hmac"
KEY_ID = "link-hmac-1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _secret_in(tx: Connection) -> bytes | None:
    row = tx.execute(select(server_keys.c.private_key).where(server_keys.c.kind == KIND).order_by(server_keys.c.created_at)).first()
    return base64.b64decode(row[0]) if row else None


def secret(ctx: Context) -> bytes:
    """The link HMAC key, created on first use (a concurrent creator loses the primary-key race
    and reads the winner's key)."""
    with ctx.store.read() as tx:
        key = _secret_in(tx)
    if key is not None:
        return key
    try:
        with ctx.store.write() as tx:
            key = _secret_in(tx)
            if key is None:
                key = secrets.token_bytes(32)
                tx.execute(insert(server_keys).values(id=KEY_ID, kind=KIND, private_key=base64.b64encode(key).decode(),
                                                      public_key="", created_at=ctx.now()))
    except IntegrityError:
        pass
    with ctx.store.read() as tx:
        key = _secret_in(tx)
    assert key is not None
    return key


def _mac(key: bytes, *parts: str) -> bytes:
    return hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).digest()


def token_for(key: bytes, nonce: str) -> str:
    return f"{nonce}.{_b64(_mac(key, 'decision-link', nonce)[:16])}"


def verify_token(key: bytes, token: str) -> str | None:
    """The nonce of a genuine token, or None."""
    if not isinstance(token, str) or len(token) > 100 or token.count(".") != 1:
        return None
    nonce, _ = token.split(".")
    if not nonce or not hmac.compare_digest(token_for(key, nonce).encode(), token.encode()):
        return None
    return nonce


def create(tx: Connection, *, key: bytes, message_id: str, options: list[str], base_url: str, now: datetime,
           ttl_seconds: int) -> list[str]:
    """One link per option for the question `message_id`, in the caller's transaction; returns
    their URLs in option order. `key` comes from `secret()`, read before the transaction."""
    expires = now + timedelta(seconds=ttl_seconds)
    urls = []
    for option in options:
        nonce = _b64(secrets.token_bytes(18))
        tx.execute(insert(decision_links).values(id=nonce, message_id=message_id, option=option, expires_at=expires,
                                                 used_at=None, used_message_id=None))
        urls.append(f"{base_url}/d/{token_for(key, nonce)}")
    return urls


# --- using a link ---------------------------------------------------------------------------------


@dataclass
class LinkState:
    """What a link is: `status` is "open", "used", "expired", "closed" (the question never went
    out) or "invalid"; for a valid link, the question and the option."""

    status: str
    option: str | None = None
    question: str | None = None
    subject: str | None = None
    decision: str | None = None


def _question_text(question: dict[str, Any]) -> str:
    return (question.get("metadata") or {}).get("question") or question["subject"]


def _state(tx: Connection, nonce: str | None, now: datetime) -> tuple[LinkState, dict[str, Any] | None, dict[str, Any] | None]:
    if nonce is None:
        return LinkState("invalid"), None, None
    row = tx.execute(select(decision_links).where(decision_links.c.id == nonce)).mappings().first()
    if row is None:
        return LinkState("invalid"), None, None
    question = message_q.by_id(tx, row["message_id"])
    if question is None:
        return LinkState("invalid"), None, None
    info = dict(option=row["option"], question=_question_text(question), subject=question["subject"])
    # One answer per question by link: once any of its links was used, all of them are.
    used = tx.execute(
        select(decision_links).where(decision_links.c.message_id == row["message_id"], decision_links.c.used_at.is_not(None))
    ).mappings().first()
    if used is not None:
        return LinkState("used", decision=used["option"], **info), dict(row), question
    if row["expires_at"] <= now:
        return LinkState("expired", **info), dict(row), question
    if question["status"] != "sent":
        # Held, rejected, cancelled, failed or not yet handed over: nobody outside has the
        # links, so nobody may use them (an agent reading its own pending question cannot).
        return LinkState("closed", **info), dict(row), question
    return LinkState("open", **info), dict(row), question


def inspect(ctx: Context, token: str) -> LinkState:
    """What GET shows; changes nothing."""
    nonce = verify_token(secret(ctx), token)
    with ctx.store.read() as tx:
        state, _, _ = _state(tx, nonce, ctx.now())
    return state


def use(ctx: Context, token: str) -> LinkState:
    """Record the link's decision, once: an inbound-style reply in the question's thread with
    `is_reply: true` and `decision` set, and a `decision.received` event."""
    nonce = verify_token(secret(ctx), token)
    now = ctx.now()
    with ctx.store.write() as tx:
        state, link, question = _state(tx, nonce, now)
        if state.status != "open":
            return state
        claimed = tx.execute(
            update(decision_links).where(decision_links.c.id == nonce, decision_links.c.used_at.is_(None)).values(used_at=now)
        ).rowcount
        if claimed != 1:
            return LinkState("used", option=state.option, question=state.question, subject=state.subject, decision=state.option)
        mailbox = mailbox_q.by_id(tx, question["mailbox_id"])
        message_id = new_id("msg")
        option = link["option"]
        asked = question["to_addrs"] or question["cc_addrs"] or [""]
        row = {
            "id": message_id,
            "mailbox_id": question["mailbox_id"],
            "thread_id": question["thread_id"],
            "direction": "inbound",
            "status": "received",
            "approval_status": None,
            "oversight_mode": None,
            "kind": "message",
            "internet_message_id": f"<{message_id}@{domain_of(mailbox['address']) if mailbox else 'multimail.invalid'}>",
            "in_reply_to": question["internet_message_id"],
            "references": [*(question["references"] or []), question["internet_message_id"]],
            "parent_id": question["id"],
            "is_reply": True,
            "from_addr": asked[0],
            "to_addrs": [mailbox["address"]] if mailbox else [],
            "cc_addrs": [],
            "bcc_addrs": [],
            "reply_to": [],
            "subject": reply_subject(question["subject"]),
            "body_text": f"{option}\n\n(Chosen with the one-click decision link of the question.)\n",
            "body_html": None,
            "options": None,
            "decision": option,
            "metadata": {"via": "decision_link", "decision_link_id": nonce},
            "raw": None,
            "read": False,
            "created_by": None,
            "created_at": now,
            "received_at": now,
        }
        message_q.insert_message(tx, row)
        message_q.touch_thread(tx, question["thread_id"], now)
        tx.execute(update(decision_links).where(decision_links.c.id == nonce).values(used_message_id=message_id))
        record(tx, at=now, principal=None, action="decision.received", mailbox=mailbox, message=row,
               details={"decision": option, "question_message_id": question["id"], "via": "decision_link"},
               event="decision.received",
               event_data={"thread_id": question["thread_id"], "message_id": message_id, "decision": option,
                           "question_message_id": question["id"], "via": "decision_link"})
    return LinkState("recorded", option=option, question=state.question, subject=state.subject, decision=option)



_LINK = re.compile(r"(/d/)[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def redact_links(text: str | None) -> str | None:
    """The message as API clients see it: link tokens replaced, so an agent key reading its own
    question (read_email, get_thread, list_pending) never holds a link that records a decision.
    The recipients get the real links in the mail itself."""
    if not text or "/d/" not in text:
        return text
    return _LINK.sub(r"\1[one-click link, sent to the recipients only]", text)
