"""send_email, reply_email, decide_email: validate, apply oversight, de-duplicate, store.

All three go through `_submit`: one transaction that takes the idempotency slot, creates the
thread and message, holds it for approval or puts it in the outbox, and writes the audit event.
A request refused for any reason leaves nothing behind.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from ..core import idempotency as idem
from ..core.access import Principal, Scope
from ..core.addresses import ParsedAddress, normalized_or_none, parse_address, parse_address_list, refuse_control_chars
from ..core.approval_policy import check_on_timeout, check_timeout, held_policy
from ..core.decision_text import question_body
from ..core.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from ..core.flow_run_waits import flow_run_id_from_metadata
from ..core.headers import header_safe
from ..core.ids import domain_of, new_id
from ..core.oversight import Action, Mode, Outcome, decide_outbound, hold_for_unknown_recipients, parse_mode
from ..core.scheduling import SCHEDULE_FIRST, applied_gate_timing, check_gate_timing, parse_send_at
from ..core.threading import reply_references, reply_subject
from ..mail.compose import new_internet_message_id
from ..store import idempotency as idem_q
from ..store import messages as message_q
from ..store import outbox as outbox_q
from .approval_notices import on_held
from .common import find_mailbox, find_message, iso, record
from .contacts import unknown_recipients
from .context import Context
from .suppressions import refuse_suppressed
from .views import held_because, send_result

MAX_SUBJECT = 998
MAX_METADATA_BYTES = 16 * 1024
MAX_OPTIONS = 20
MAX_OPTION_LENGTH = 200
MAX_METADATA_DEPTH = 16
# RFC 2045 section 5.1: type "/" subtype, each a token; parameters are not taken from clients.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_CONTENT_TYPE = re.compile(rf"^{_TOKEN}/{_TOKEN}$")
# Statuses of an outbound message that has gone out, or is on its way (approved or never held).
_ON_ITS_WAY = ("queued", "sending", "sent")


@dataclass
class Draft:
    """A validated outbound message, before it has a mailbox row or an id."""

    to: list[ParsedAddress]
    cc: list[ParsedAddress] = field(default_factory=list)
    bcc: list[ParsedAddress] = field(default_factory=list)
    reply_to: list[ParsedAddress] = field(default_factory=list)
    subject: str = ""
    text: str = ""
    html: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    options: list[str] | None = None


def _text(value: Any, field_name: str, *, required: bool, max_chars: int | None = None) -> str:
    if value is None:
        if required:
            raise BadRequest(f"{field_name} is required.", code="missing_field", details={"field": field_name})
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{field_name} must be a string.", code="invalid_field", details={"field": field_name})
    if max_chars is not None and len(value) > max_chars:
        raise BadRequest(
            f"{field_name} is longer than {max_chars} characters.", code="invalid_field", details={"field": field_name}
        )
    return value


def _subject(value: Any, *, required: bool) -> str:
    subject = _text(value, "subject", required=required, max_chars=MAX_SUBJECT)
    refuse_control_chars(subject, "subject")
    return subject


def _attachments(items: Any) -> list[dict[str, Any]]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise BadRequest("attachments must be a list.", code="invalid_field", details={"field": "attachments"})
    result = []
    for i, item in enumerate(items):
        where = f"attachments[{i}]"
        if not isinstance(item, dict):
            raise BadRequest(f"{where} must be an object.", code="invalid_field", details={"field": where})
        filename = _text(item.get("filename"), f"{where}.filename", required=True, max_chars=255)
        refuse_control_chars(filename, f"{where}.filename")
        if not filename.strip():
            raise BadRequest(f"{where}.filename is empty.", code="invalid_field", details={"field": f"{where}.filename"})
        content_type = _text(item.get("content_type") or "application/octet-stream", f"{where}.content_type", required=True, max_chars=255)
        if not _CONTENT_TYPE.match(content_type):
            raise BadRequest(f"{where}.content_type must be type/subtype.", code="invalid_field", details={"field": f"{where}.content_type"})
        encoded = _text(item.get("content_base64"), f"{where}.content_base64", required=True)
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"{where}.content_base64 is not valid base64.", code="invalid_base64", details={"field": f"{where}.content_base64"}) from None
        result.append({"filename": filename, "content_type": content_type.lower(), "size": len(content), "content": content})
    return result


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("metadata must be an object.", code="invalid_field", details={"field": "metadata"})
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_METADATA_DEPTH:
            raise BadRequest(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels.", code="invalid_field", details={"field": "metadata"})
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    if len(json.dumps(value, default=str)) > MAX_METADATA_BYTES:
        raise BadRequest("metadata is larger than 16 KiB.", code="invalid_field", details={"field": "metadata"})
    return value


def _check_size(ctx: Context, draft: Draft) -> None:
    size = len(draft.text.encode()) + len((draft.html or "").encode()) + sum(a["size"] for a in draft.attachments)
    if size > ctx.settings.max_message_bytes:
        raise PayloadTooLarge(
            f"The message is {size} bytes; the limit is {ctx.settings.max_message_bytes}.",
            code="message_too_large",
            details={"size": size, "limit": ctx.settings.max_message_bytes},
        )


def _fingerprint_content(draft: Draft, mode: str | None) -> dict[str, Any]:
    return {
        "to": [a.formatted() for a in draft.to],
        "cc": [a.formatted() for a in draft.cc],
        "bcc": [a.formatted() for a in draft.bcc],
        "reply_to": [a.formatted() for a in draft.reply_to],
        "subject": draft.subject,
        "text": draft.text,
        "html": draft.html,
        "attachments": [[a["filename"], a["content_type"], idem.fingerprint(base64.b64encode(a["content"]).decode())] for a in draft.attachments],
        "options": draft.options,
        "oversight_mode": mode,
    }


def _fingerprint_schedule(send_at: Any, gate_timing: Any) -> dict[str, Any]:
    """The schedule is part of a request: the same message for another time is another request
    (left out when absent, so unscheduled requests fingerprint as before)."""
    return {k: v for k, v in (("send_at", send_at), ("gate_timing", gate_timing)) if v is not None}


def _reached(msg: dict[str, Any]) -> bool:
    """Whether a message of the thread reached (or is on its way to) its recipients."""
    return msg["direction"] == "inbound" or msg["status"] in _ON_ITS_WAY


def _verified_sender(msg: dict[str, Any]) -> str | None:
    """The From of an inbound message whose sender was authenticated (DMARC pass, or local
    delivery from a hosted mailbox), else None. Only the From: a Reply-To or Cc of the same
    message is whatever the sender wrote, and proves nothing about who reads it."""
    if msg["direction"] != "inbound":
        return None
    authentication = (msg["metadata"] or {}).get("authentication") or {}
    return normalized_or_none(msg["from_addr"]) if authentication.get("verified_sender") is True else None


def _approved_people(thread: list[dict[str, Any]]) -> set[str]:
    """Who is already in the conversation: the authenticated senders of the thread's inbound
    mail, and the recipients (to, cc, bcc) of its outbound mail that a human approved. Nobody
    else: anyone can mail the mailbox with fifty addresses in Cc (inbound SMTP needs no AUTH), and
    an autonomous or monitored send was never seen by a human."""
    people: set[str] = set()
    for msg in thread:
        sender = _verified_sender(msg)
        if sender:
            people.add(sender)
        if msg["direction"] == "outbound" and msg["approval_status"] == "approved":
            for address in [*msg["to_addrs"], *msg["cc_addrs"], *msg["bcc_addrs"]]:
                normalized = normalized_or_none(address) if address else None
                if normalized:
                    people.add(normalized)
    return people


def _why_new(parent: dict[str, Any], address: str) -> str:
    """Why a recipient of a reply is not in the conversation, for the approver and the audit."""
    def among(addresses: list[str]) -> bool:
        return address in {normalized_or_none(a) for a in addresses if a}

    if parent["direction"] == "inbound":
        if among([parent["from_addr"]]):
            return "unverified_sender"
        if among(parent["reply_to"]):
            return "reply_to_address"
        if among([*parent["to_addrs"], *parent["cc_addrs"]]):
            return "copied_on_the_message"
    elif among([*parent["to_addrs"], *parent["cc_addrs"]]):
        return "never_approved_in_thread"
    return "added_by_agent"


def _reply_action(tx, parent: dict[str, Any], draft: Draft) -> tuple[Action, dict[str, Any] | None]:
    """What a reply is for oversight, and why when it is not a reply. `gated_send` lets a reply in
    an existing conversation go out at once, so a reply counts as one only when that conversation
    exists: its parent reached its recipients, and everyone it goes to (to, cc, bcc) is a human
    counterpart of the conversation (`_approved_people`). A follow-up to a message that is still
    held (or was rejected or cancelled), or a reply that reaches anyone else, starts a
    conversation and is held like send_email; the second value says why (it goes into the audit
    event and the approver's view)."""
    if not _reached(parent):
        return Action.SEND, {"reason": "reply_to_unsent_message", "recipients": [],
                             "message": "It follows up a message that has not gone out."}
    people = _approved_people(message_q.thread_messages(tx, parent["thread_id"]))
    strangers, seen = [], set(people)
    for a in [*draft.to, *draft.cc, *draft.bcc]:
        if a.normalized not in seen:
            seen.add(a.normalized)
            strangers.append({"address": a.normalized, "why": _why_new(parent, a.normalized)})
    if strangers:
        names = ", ".join(s["address"] for s in strangers)
        return Action.SEND, {"reason": "new_recipients", "recipients": strangers,
                             "message": f"It reaches people no human approved in this conversation: {names}."}
    return Action.REPLY, None


@dataclass
class _Submission:
    """One send, reply or decide request on its way into the store, in named steps (`_submit`
    runs them): find the target mailbox (or the parent message), take the idempotency slot or
    answer the replay, apply oversight, place the message in its thread, store it with its
    attachments and outbox row, and audit it."""

    ctx: Context
    principal: Principal
    operation: str
    action: Action
    mailbox_ref: str
    draft: Draft
    override: str | None
    idempotency_key: str | None
    request_fingerprint: str
    parent_id: str | None
    now: Any = None
    message_id: str = ""
    approval_timeout: int | None = None
    on_timeout: str | None = None
    unknown_contacts: list[str] | None = None  # set when contacts_only turned a send into a hold
    send_at: Any = None  # datetime: a scheduled message's time (core/scheduling.py)
    schedule_key: dict[str, Any] = field(default_factory=dict)

    def target(self, tx: Connection) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """(parent message or None, the sending mailbox), both within the key's scope (404 else)."""
        if self.parent_id is not None:
            return find_message(tx, self.principal, self.parent_id)
        return None, find_mailbox(tx, self.principal, self.mailbox_ref, "from")

    def slot(self, mailbox: dict[str, Any]) -> tuple[str | None, int]:
        """The idempotency slot and its lifetime: an explicit key pins the answer for 24 h;
        otherwise identical content within the mailbox's window is the same request."""
        if self.idempotency_key is not None:
            return idem.explicit_slot(self.operation, self.idempotency_key), idem.EXPLICIT_KEY_TTL_SECONDS
        if mailbox["idempotency_window_seconds"] > 0:
            content = {**_fingerprint_content(self.draft, self.override), "parent": self.parent_id, **self.schedule_key}
            return idem.implicit_slot(self.operation, mailbox["id"], content), mailbox["idempotency_window_seconds"]
        return None, 0

    def replay(self, tx: Connection, holder: dict[str, Any]) -> dict[str, Any]:
        """The answer of the request that took the slot first. The implicit slot is named by the
        content itself; only an explicit key can arrive with a different request behind it."""
        if self.idempotency_key is not None and holder["request_hash"] != self.request_fingerprint:
            raise Conflict("This idempotency key was used with a different request.", code="idempotency_key_reused",
                           details={"idempotency_key": self.idempotency_key})
        existing = message_q.by_id(tx, holder["message_id"])
        if existing is None:
            raise NotFound("The message this request created earlier was deleted.", code="message_not_found")
        return send_result(existing, duplicate=True)

    def claimed_by_other(self, tx: Connection, mailbox: dict[str, Any]) -> dict[str, Any] | None:
        """Take the slot for this message; the earlier request's answer if it was taken."""
        slot, ttl = self.slot(mailbox)
        if slot is None:
            return None
        holder = idem_q.claim(tx, api_key_id=self.principal.label, slot=slot, request_hash=self.request_fingerprint,
                              message_id=self.message_id, now=self.now, expires_at=self.now + timedelta(seconds=ttl))
        return self.replay(tx, holder) if holder is not None else None

    def oversight(self, tx: Connection, parent: dict[str, Any] | None, mailbox: dict[str, Any]):
        """The verdict (hold or queue, under which mode), and for a reply treated as a new
        conversation, why (services/sending._reply_action)."""
        new_conversation = None
        if parent is not None:
            self.action, new_conversation = _reply_action(tx, parent, self.draft)
        override_mode = parse_mode(self.override) if self.override is not None else None
        verdict = decide_outbound(role=self.principal.scopes, default=Mode(mailbox["oversight_mode"]),
                                  floor=Mode(mailbox["min_oversight"]), override=override_mode, action=self.action)
        if mailbox.get("contacts_only") and verdict.outcome is not Outcome.HOLD:
            unknown = unknown_recipients(tx, mailbox, [a.addr_spec for a in self.draft.to + self.draft.cc + self.draft.bcc])
            verdict = hold_for_unknown_recipients(verdict, contacts_only=True, unknown=unknown)
            self.unknown_contacts = unknown or None
        return verdict, new_conversation

    def place_in_thread(self, tx: Connection, parent: dict[str, Any] | None, mailbox: dict[str, Any]) -> tuple[str, str | None, list[str]]:
        """(thread id, In-Reply-To, References): the parent's thread, or a new one."""
        if parent is not None:
            message_q.touch_thread(tx, parent["thread_id"], self.now)
            return (parent["thread_id"], parent["internet_message_id"],
                    reply_references(parent["references"], parent["internet_message_id"]))
        thread_id = new_id("thr")
        message_q.insert_thread(tx, {"id": thread_id, "mailbox_id": mailbox["id"], "subject": self.draft.subject,
                                     "created_at": self.now, "last_message_at": self.now})
        return thread_id, None, []

    def row(self, mailbox: dict[str, Any], parent: dict[str, Any] | None, held: bool, mode: Mode,
            thread: tuple[str, str | None, list[str]]) -> dict[str, Any]:
        draft = self.draft
        thread_id, in_reply_to, references = thread
        return {
            "id": self.message_id,
            "mailbox_id": mailbox["id"],
            "thread_id": thread_id,
            "direction": "outbound",
            "status": "pending" if held else "queued",
            "approval_status": "pending" if held else None,
            "oversight_mode": mode.value,
            "kind": "decision" if draft.options else "message",
            "internet_message_id": new_internet_message_id(self.message_id, domain_of(mailbox["address"])),
            "in_reply_to": in_reply_to,
            "references": references,
            "parent_id": parent["id"] if parent else None,
            "is_reply": parent is not None,
            "from_addr": ParsedAddress(mailbox["display_name"], mailbox["address"]).formatted(),
            "to_addrs": [a.formatted() for a in draft.to],
            "cc_addrs": [a.formatted() for a in draft.cc],
            "bcc_addrs": [a.formatted() for a in draft.bcc],
            "reply_to": [a.formatted() for a in draft.reply_to],
            "subject": draft.subject,
            "body_text": draft.text,
            "body_html": draft.html,
            "options": draft.options,
            "metadata": draft.metadata,
            "flow_run_id": flow_run_id_from_metadata(draft.metadata),
            "read": True,
            "created_by": self.principal.label,
            "created_at": self.now,
        }

    def audit_details(self, row: dict[str, Any], mailbox: dict[str, Any], verdict, held: bool,
                      parent: dict[str, Any] | None, new_conversation: dict[str, Any] | None) -> dict[str, Any]:
        details = {"operation": self.operation, "outcome": verdict.outcome.value, "to": row["to_addrs"],
                   "subject": self.draft.subject}
        if parent is not None and self.action is not Action.REPLY:
            details["reply_treated_as"] = self.action.value  # see _reply_action
            details["new_conversation"] = new_conversation
        if held:  # shown to the approver (views.pending_item)
            override_mode = parse_mode(self.override) if self.override is not None else None
            details["held_because"] = held_because(mode=verdict.mode, mailbox_mode=mailbox["oversight_mode"],
                                                   override=override_mode, operation=self.operation,
                                                   new_conversation=new_conversation, unknown_contacts=self.unknown_contacts)
        if self.idempotency_key is not None:
            details["idempotency_key"] = self.idempotency_key
        if self.draft.metadata:
            details["metadata"] = self.draft.metadata
        if row.get("send_at") is not None:
            details.update(send_at=iso(row["send_at"]), gate_timing=row.get("gate_timing"))
        return details


def _submit(
    ctx: Context,
    *,
    principal: Principal,
    operation: str,
    action: Action,
    mailbox_ref: str,
    draft: Draft,
    override: str | None,
    idempotency_key: str | None,
    request_fingerprint: str,
    parent_id: str | None = None,
    render: Callable[[Connection, str], None] | None = None,
    approval_timeout: int | None = None,
    on_timeout: str | None = None,
    send_at: Any = None,
    gate_timing: str | None = None,
) -> dict[str, Any]:
    """Store one outbound message (the steps of `_Submission`). `render(tx, message_id)`, when
    given, completes the draft inside the transaction once the request is known to be new and
    allowed (decide_email adds its decision links there).

    With `send_at` (core/scheduling.py) the message is `scheduled`: its outbox row waits for that
    time. A held one is put to its approvers now (gate_first: once approved it is `scheduled`) or,
    under schedule_first, only when it falls due (services/scheduling.fall_due)."""
    if override is not None:
        parse_mode(override)  # an unknown mode is a 400 before anything is read
    schedule_key = _fingerprint_schedule(send_at, gate_timing)
    when = parse_send_at(send_at, now=ctx.now())
    if gate_timing is not None:
        check_gate_timing(gate_timing)
    _check_size(ctx, draft)
    if approval_timeout is not None:
        check_timeout(approval_timeout)
    if on_timeout is not None:
        check_on_timeout(on_timeout)
    sub = _Submission(ctx=ctx, principal=principal, operation=operation, action=action, mailbox_ref=mailbox_ref,
                      draft=draft, override=override, idempotency_key=idempotency_key,
                      request_fingerprint=request_fingerprint, parent_id=parent_id, now=ctx.now(), message_id=new_id("msg"),
                      approval_timeout=approval_timeout, on_timeout=on_timeout, send_at=when, schedule_key=schedule_key)
    # Replays are found in the write transaction (`claimed_by_other`), not by a read before it:
    # nearly every request is new, and the read cost each of them a transaction and two queries.
    with ctx.store.write() as tx:
        parent, mailbox = sub.target(tx)
        replayed = sub.claimed_by_other(tx, mailbox)
        if replayed is not None:
            return replayed
        refuse_suppressed(tx, mailbox, [a.addr_spec for a in draft.to + draft.cc + draft.bcc])  # 409 `suppressed`
        # Oversight after the idempotency slot: a replay returns the message its first request
        # created even if the mailbox's mode has changed since; a refusal rolls the slot back.
        verdict, new_conversation = sub.oversight(tx, parent, mailbox)
        thread = sub.place_in_thread(tx, parent, mailbox)
        if render is not None:
            render(tx, sub.message_id)
        needs_approval = verdict.outcome is Outcome.HOLD
        timing = (applied_gate_timing(default=mailbox.get("gate_timing"), override=gate_timing, is_admin=principal.has(Scope.ADMIN))
                  if needs_approval and when is not None else None)
        held = needs_approval and timing != SCHEDULE_FIRST  # held now; else at its time, or never
        row = sub.row(mailbox, parent, held, verdict.mode, thread)
        row.update(send_at=when, gate_timing=timing)
        if when is not None and not held:
            row["status"] = "scheduled"
        if needs_approval:  # the approval policy that applies to it (core/approval_policy.py)
            policy = held_policy(mailbox, approval_timeout=approval_timeout, on_timeout=on_timeout,
                                 is_admin=principal.has(Scope.ADMIN), allow_approve=ctx.settings.allow_approve_on_timeout)
            row.update(approval_policy=policy.as_json(), approvals=[],
                       approval_due_at=sub.now + timedelta(seconds=policy.timeout) if policy.timeout and held else None)
        message_q.insert_message(tx, row)
        message_q.insert_attachments(tx, sub.message_id, [{"id": new_id("att"), **a} for a in draft.attachments])
        if not held:
            outbox_q.enqueue(tx, sub.message_id, sub.now, not_before=when)
        else:
            on_held(tx, ctx, msg=row, mailbox=mailbox)
        event = "message.pending" if held else "message.scheduled" if when is not None else "message.queued"
        record(tx, at=sub.now, principal=principal, action=f"message.{operation}", mailbox=mailbox, message=row,
               details=sub.audit_details(row, mailbox, verdict, needs_approval, parent, new_conversation),
               event=event, event_data=send_result(row, duplicate=False))
    return send_result(row, duplicate=False)


def send_email(
    ctx: Context,
    *,
    principal: Principal,
    sender: str,
    to: str | list[str],
    subject: str,
    body: str,
    html: str | None = None,
    cc: str | list[str] | None = None,
    bcc: str | list[str] | None = None,
    reply_to: str | list[str] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    oversight_mode: str | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    request_fingerprint: str | None = None,
    approval_timeout: int | None = None,
    on_timeout: str | None = None,
    send_at: str | None = None,
    gate_timing: str | None = None,
) -> dict[str, Any]:
    """`approval_timeout` / `on_timeout`: this message's own approval timeout, if it is held
    (core/approval_policy.held_policy says what an agent key may not loosen). `send_at` /
    `gate_timing`: scheduled send (core/scheduling.py)."""
    parse_address(sender, "from")
    draft = Draft(
        to=parse_address_list(to, "to", required=True),
        cc=parse_address_list(cc, "cc", required=False),
        bcc=parse_address_list(bcc, "bcc", required=False),
        reply_to=parse_address_list(reply_to, "reply_to", required=False),
        subject=_subject(subject, required=True),
        text=_text(body, "body", required=True),
        html=_text(html, "html", required=False) or None,
        attachments=_attachments(attachments),
        metadata=_metadata(metadata),
    )
    return _submit(
        ctx, principal=principal, operation="send", action=Action.SEND, mailbox_ref=sender, draft=draft,
        override=oversight_mode, idempotency_key=idempotency_key, approval_timeout=approval_timeout, on_timeout=on_timeout,
        send_at=send_at, gate_timing=gate_timing,
        request_fingerprint=request_fingerprint or idem.fingerprint({**_fingerprint_content(draft, oversight_mode), "from": sender,
                                                                     **_fingerprint_schedule(send_at, gate_timing)}),
    )


def reply_email(
    ctx: Context,
    *,
    principal: Principal,
    message_id: str,
    body: str,
    html: str | None = None,
    reply_all: bool = False,
    cc: str | list[str] | None = None,
    bcc: str | list[str] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    oversight_mode: str | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    request_fingerprint: str | None = None,
    approval_timeout: int | None = None,
    on_timeout: str | None = None,
    send_at: str | None = None,
    gate_timing: str | None = None,
) -> dict[str, Any]:
    with ctx.store.read() as tx:
        parent, mailbox = find_message(tx, principal, message_id)
    own = mailbox["address"]
    if parent["direction"] == "inbound":
        primary = parent["reply_to"] or [parent["from_addr"]]
        others = parent["to_addrs"] + parent["cc_addrs"] if reply_all else []
    else:  # a follow-up to our own message goes to the same people
        primary = parent["to_addrs"]
        others = parent["cc_addrs"] if reply_all else []
    to = _dedupe([a for a in primary if a], exclude=own)
    extra_cc = _dedupe([a for a in others if a], exclude=own, also_exclude=to)
    if not to:
        raise BadRequest("The message has no address to reply to.", code="no_reply_address", details={"message_id": message_id})
    draft = Draft(
        to=[parse_address(a, "to") for a in to],
        cc=[parse_address(a, "cc") for a in extra_cc] + parse_address_list(cc, "cc", required=False),
        bcc=parse_address_list(bcc, "bcc", required=False),
        subject=header_safe(reply_subject(parent["subject"]))[:MAX_SUBJECT],
        text=_text(body, "body", required=True),
        html=_text(html, "html", required=False) or None,
        attachments=_attachments(attachments),
        metadata=_metadata(metadata),
    )
    return _submit(
        ctx, principal=principal, operation="reply", action=Action.REPLY, mailbox_ref=own, draft=draft,
        override=oversight_mode, idempotency_key=idempotency_key, parent_id=message_id,
        approval_timeout=approval_timeout, on_timeout=on_timeout, send_at=send_at, gate_timing=gate_timing,
        request_fingerprint=request_fingerprint or idem.fingerprint({**_fingerprint_content(draft, oversight_mode), "parent": message_id,
                                                                     **_fingerprint_schedule(send_at, gate_timing)}),
    )


def _dedupe(addresses: list[str], *, exclude: str, also_exclude: tuple[str, ...] | list[str] = ()) -> list[str]:
    seen = {exclude.lower()} | {parse_address(a, "to").normalized for a in also_exclude}
    result = []
    for a in addresses:
        try:
            key = parse_address(a, "to").normalized
        except BadRequest:
            continue  # a malformed address in received mail is skipped, not fatal
        if key not in seen:
            seen.add(key)
            result.append(a)
    return result


def _options(value: Any) -> list[str]:
    if not isinstance(value, list) or not (2 <= len(value) <= MAX_OPTIONS):
        raise BadRequest(f"options must be a list of 2 to {MAX_OPTIONS} strings.", code="invalid_field", details={"field": "options"})
    seen = set()
    result = []
    for i, option in enumerate(value):
        option = _text(option, f"options[{i}]", required=True, max_chars=MAX_OPTION_LENGTH).strip()
        refuse_control_chars(option, f"options[{i}]")
        if not option or option.casefold() in seen:
            raise BadRequest("options must be distinct and non-empty.", code="invalid_field", details={"field": f"options[{i}]"})
        if option.isdigit():
            raise BadRequest("An option may not be a bare number: numbers pick options by position.", code="invalid_field", details={"field": f"options[{i}]"})
        seen.add(option.casefold())
        result.append(option)
    return result


def decide_email(
    ctx: Context,
    *,
    principal: Principal,
    sender: str,
    to: str | list[str],
    question: str,
    options: list[str],
    subject: str | None = None,
    context: str | None = None,
    cc: str | list[str] | None = None,
    oversight_mode: str | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    request_fingerprint: str | None = None,
) -> dict[str, Any]:
    parse_address(sender, "from")
    question = _text(question, "question", required=True).strip()
    if not question:
        raise BadRequest("question is required.", code="missing_field", details={"field": "question"})
    opts = _options(options)
    subj = _subject(subject, required=False) if subject is not None else ""
    if not subj:
        first_line = question.splitlines()[0]
        subj = _subject(first_line if len(first_line) <= 120 else first_line[:119] + "…", required=True)
    draft = Draft(
        to=parse_address_list(to, "to", required=True),
        cc=parse_address_list(cc, "cc", required=False),
        subject=subj,
        text=question_body(question, opts, _text(context, "context", required=False)),
        metadata={**_metadata(metadata), "question": question},
        options=opts,
    )
    fingerprint = request_fingerprint or idem.fingerprint({**_fingerprint_content(draft, oversight_mode), "from": sender})
    # One signed, single-use link per option, created with the question in its transaction (after
    # the idempotency slot is taken, so a retry gets the first question and creates no links).
    # They are not part of the stored body: the delivery worker adds them, and the private
    # reply address, only to the copy that goes to external recipients (services/decision_links).
    from . import decision_links

    decision_links.secret(ctx)  # the key exists before the question, so delivery can mint its links

    def add_links(tx, message_id: str) -> None:
        decision_links.create(tx, message_id=message_id, options=opts, now=ctx.now(),
                              ttl_seconds=ctx.settings.decision_link_ttl_seconds)

    return _submit(
        ctx, principal=principal, operation="decide", action=Action.DECIDE, mailbox_ref=sender, draft=draft,
        override=oversight_mode, idempotency_key=idempotency_key, request_fingerprint=fingerprint, render=add_links,
    )
