"""Signed one-click decision links and private reply addresses for decide_email questions.

A link is `{base_url}/d/{token}` with `token = nonce "." HMAC-SHA256(secret, nonce)` (base64url,
truncated to 128 bits). The secret is a random 256-bit key kept in `server_keys` (kind
"link-hmac"); the `decision_links` row (id = nonce) names the question and the option, its expiry
(settings.decision_link_ttl_seconds after the question was created) and, once used, when and which
message recorded the decision. Opening a link (GET) never decides — mail scanners prefetch links —
it only shows a confirmation form; POST decides, once.

The private reply address of a question is `<local>+q_<HMAC(secret, question id)>@<domain>`; it
needs no row, since the reply's threading names the question and the HMAC is recomputed.

Neither secret is stored in the question's body: the rows are written with the question (in its
transaction, after its idempotency slot was taken, so a retry creates none), and the delivery
worker adds the links and the Reply-To only to the copy handed to external recipients
(`for_recipients`). Hosted mailboxes get a copy without them, since an API key reads those
(core/decision_secrets.py says where else they are scrubbed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from ..core.addresses import normalized_or_none
from ..core.decision_proof import PROOF_LINK
from ..core.decision_secrets import REPLY_SECRET_LENGTH, REPLY_TAG_PREFIX, split_plus_tag
from ..core.ids import domain_of, new_id
from ..core.threading import reply_subject
from ..store import decision_links as link_q
from ..store import domains as domain_q
from ..store import mailboxes as mailbox_q
from ..store import messages as message_q
from .common import record
from .context import Context

KIND = "link-hmac"
KEY_ID = "link-hmac-1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def secret_in(tx: Connection) -> bytes | None:
    rows = domain_q.server_keys_of_kind(tx, KIND)
    return base64.b64decode(rows[0]["private_key"]) if rows else None


def secret(ctx: Context) -> bytes:
    """The link HMAC key, created on first use (a concurrent creator loses the primary-key race
    and reads the winner's key)."""
    with ctx.store.read() as tx:
        key = secret_in(tx)
    if key is not None:
        return key
    try:
        with ctx.store.write() as tx:
            key = secret_in(tx)
            if key is None:
                key = secrets.token_bytes(32)
                domain_q.insert_server_key(tx, {"id": KEY_ID, "kind": KIND, "private_key": base64.b64encode(key).decode(),
                                                "public_key": "", "created_at": ctx.now()})
    except IntegrityError:
        pass
    with ctx.store.read() as tx:
        key = secret_in(tx)
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


def create(tx: Connection, *, message_id: str, options: list[str], now: datetime, ttl_seconds: int) -> None:
    """One link per option for the question `message_id`, in the caller's transaction."""
    expires = now + timedelta(seconds=ttl_seconds)
    for option in options:
        link_q.insert_link(tx, nonce=_b64(secrets.token_bytes(18)), message_id=message_id, option=option, expires_at=expires)


def link_urls(tx: Connection, *, key: bytes, question: dict[str, Any], base_url: str) -> list[str]:
    """The question's link URLs in option order (what only its external recipients get)."""
    by_option = {row["option"]: row["id"] for row in link_q.of_question(tx, question["id"])}
    return [f"{base_url}/d/{token_for(key, by_option[o])}" for o in question["options"] or [] if o in by_option]


def reply_secret(key: bytes, question_id: str) -> str:
    """`q_` and 100 bits of HMAC in lower-case base32: mail systems may change the case of a
    local part, so the secret must survive that."""
    mac = _mac(key, "reply-address", question_id)[:15]
    return REPLY_TAG_PREFIX + base64.b32encode(mac).decode().lower()[:REPLY_SECRET_LENGTH]


def reply_address(key: bytes, question_id: str, mailbox_address: str) -> str:
    """The question's private reply address: plus-addressing on the asking mailbox."""
    local, _, domain = mailbox_address.rpartition("@")
    return f"{local}+{reply_secret(key, question_id)}@{domain}"


def is_reply_address(key: bytes, question_id: str, address: str | None) -> bool:
    """Whether `address` is the question's private reply address (tag compared in constant time)."""
    if not address:
        return False
    _, tag = split_plus_tag(normalized_or_none(address) or address)
    return tag is not None and hmac.compare_digest(tag.lower().encode(), reply_secret(key, question_id).encode())


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
    row = link_q.by_nonce(tx, nonce)
    if row is None:
        return LinkState("invalid"), None, None
    question = message_q.by_id(tx, row["message_id"])
    if question is None:
        return LinkState("invalid"), None, None
    info = dict(option=row["option"], question=_question_text(question), subject=question["subject"])
    # One answer per question by link: once any of its links was used, all of them are.
    used = link_q.used_of_question(tx, row["message_id"])
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
        assert nonce is not None and link is not None and question is not None  # an open link has all three
        earlier = already_decided(tx, question)
        if earlier is not None:
            # A reply decided first: the first answer stands, whichever way it came.
            return LinkState("used", option=state.option, question=state.question, subject=state.subject, decision=earlier)
        if not link_q.claim(tx, nonce, now):
            return LinkState("used", option=state.option, question=state.question, subject=state.subject, decision=state.option)
        mailbox = mailbox_q.by_id(tx, question["mailbox_id"])
        message_id = new_id("msg")
        option = link["option"]
        sent_to = external_recipients(tx, question)
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
            # Nobody is named as the chooser: the link proves only that someone holding the mail
            # sent to these addresses clicked it.
            "from_addr": "",
            "to_addrs": [mailbox["address"]] if mailbox else [],
            "cc_addrs": [],
            "bcc_addrs": [],
            "reply_to": [],
            "subject": reply_subject(question["subject"]),
            "body_text": f"{option}\n\n(Chosen with the one-click link sent to {', '.join(sent_to) or 'the recipients'}.)\n",
            "body_html": None,
            "options": None,
            "decision": option,
            "metadata": {"via": "decision_link", "decision_link_id": nonce, "link_sent_to": sent_to,
                         "decision_check": {"outcome": "decided", "proof": PROOF_LINK, "reason": None,
                                            "question_message_id": question["id"], "link_sent_to": sent_to}},
            "raw": None,
            "read": False,
            "created_by": None,
            "created_at": now,
            "received_at": now,
        }
        message_q.insert_message(tx, row)
        message_q.touch_thread(tx, question["thread_id"], now)
        link_q.set_used_message(tx, nonce, message_id)
        record(tx, at=now, principal=None, action="decision.received", mailbox=mailbox, message=row,
               details={"decision": option, "question_message_id": question["id"], "via": "decision_link", "link_sent_to": sent_to},
               event="decision.received",
               event_data={"thread_id": question["thread_id"], "message_id": message_id, "decision": option,
                           "question_message_id": question["id"], "via": "decision_link", "proof": PROOF_LINK,
                           "link_sent_to": sent_to})
    return LinkState("recorded", option=option, question=state.question, subject=state.subject, decision=option)




def external_recipients(tx: Connection, question: dict[str, Any]) -> list[str]:
    """Who got the links: the question's recipients that are not hosted mailboxes."""
    recipients: list[str] = []
    for address in question["to_addrs"] + question["cc_addrs"] + question["bcc_addrs"]:
        spec = normalized_or_none(address)
        if spec and spec not in recipients:
            recipients.append(spec)
    hosted = mailbox_q.addresses_in(tx, recipients)
    return [r for r in recipients if r not in hosted]


def already_decided(tx: Connection, question: dict[str, Any], thread: list[dict[str, Any]] | None = None) -> str | None:
    """The option an earlier answer (reply or link) chose for this question, if any; `thread` is
    the question's thread when the caller has read it already."""
    for msg in thread if thread is not None else message_q.thread_messages(tx, question["thread_id"]):
        if msg["decision"] and msg["seq"] > question["seq"]:
            return msg["decision"]
    return None
