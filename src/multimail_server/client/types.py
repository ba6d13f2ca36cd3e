"""Typed shapes of the API's answers (docs/api.md): the one declaration of what each verb answers.

The server uses these TypedDicts as its routes' response models (so its OpenAPI document
describes every answer, and an answer has exactly these keys: tests/client/test_types_match_answers.py
calls every verb and compares), and the SDK returns them. A key marked ``NotRequired`` is present
only in some answers (its docstring says when); every other key is always there, ``None`` when it
has no value. :class:`SendResult` is a small frozen dataclass, since every sending call returns it
and callers use its fields directly (:class:`SendAnswer` is its JSON).

No ``from __future__ import annotations`` here: ``NotRequired`` must be seen when each class is made.
Standard library only: ``typing_extensions`` (always there with pydantic, which on Python 3.11 reads
only its TypedDicts) is used when installed.
"""

import base64
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

try:  # pydantic (the server) needs typing_extensions' TypedDict on Python < 3.12
    from typing import NotRequired

    from typing_extensions import TypedDict, is_typeddict
except ImportError:  # pragma: no cover - the SDK alone, without typing_extensions
    from typing import NotRequired, TypedDict, is_typeddict

OversightMode = Literal["read_only", "gated_all", "gated_send", "monitored", "autonomous"]
Addresses = Union[str, "list[str]"]
TagValue = Union[str, int, float, bool, None]

__all__ = [
    "OversightMode", "Addresses", "TagValue", "SendResult", "SendAnswer", "Attachment", "attachment",
    "InboxMessage", "InboxPage", "AttachmentItem", "AttachmentInfo", "DecisionCheck", "HeldBecause", "Message",
    "ThreadMessage", "Thread", "PendingMessage", "PendingList", "Mailbox", "MailboxList", "MailboxDeleted",
    "AuditEvent", "AuditPage", "Webhook", "WebhookList", "WebhookTest", "WebhookDeleted", "DeliveryAttempt",
    "WebhookDelivery", "WebhookDeliveryPage", "Redelivered", "EventType", "EventTypeList", "ApiKey", "ApiKeyList",
    "Health", "SigningKey", "SigningKeys", "VerifyResult", "TagResult", "Claim", "AckResult", "ReleaseResult",
    "ApprovalOutcome", "DecisionOutcome", "FlowRunWait", "ErrorDetail", "ErrorBody",
]


@dataclass(frozen=True)
class SendResult:
    """The answer of send_email, reply_email and decide_email.

    Attributes:
        message_id: The message's id (``msg_…``).
        thread_id: Its thread (``thr_…``); pass to ``get_thread`` to follow replies and decisions.
        status: Delivery status: ``pending`` (held for approval), ``queued``, ``sent``, ...
        approval_status: ``pending`` / ``approved`` / ... when the message needed approval, else ``None``.
        oversight_mode: The oversight mode that was applied to this message.
        duplicate: ``True`` when the server recognised a repeated request and returned the
            message the first one created (nothing was sent twice).
        send_at: A scheduled message's time (``status`` is ``scheduled`` until then).
        raw: The whole JSON answer, including any fields newer servers add.

    Example:
        >>> result = client.send_email(sender="agent@acme.test", to="bob@x.test", subject="Hi", body="Hello")
        >>> result.status
        'pending'
    """

    message_id: str
    thread_id: str
    status: str
    approval_status: str | None = None
    oversight_mode: str | None = None
    duplicate: bool = False
    send_at: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_pending(self) -> bool:
        """Whether the message waits for a human's approval."""
        return self.status == "pending"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SendResult":
        """Build from the API's JSON answer; unknown fields stay in ``raw``."""
        return cls(
            message_id=data["message_id"],
            thread_id=data["thread_id"],
            status=data["status"],
            approval_status=data.get("approval_status"),
            oversight_mode=data.get("oversight_mode"),
            duplicate=bool(data.get("duplicate", False)),
            send_at=data.get("send_at"),
            raw=dict(data),
        )


class Attachment(TypedDict):
    """An attachment to send: base64 content, as the API reference's ``attachments`` items."""

    filename: str
    content_type: str
    content_base64: str


def attachment(filename: str, data: bytes | str | Path | None = None, content_type: str | None = None) -> Attachment:
    """Build an attachment for ``send_email`` / ``reply_email``.

    Args:
        filename: The name the recipient sees. When ``data`` is omitted, the file is read from this path.
        data: The content: bytes, text (encoded as UTF-8) or a path to read.
        content_type: MIME type; guessed from the file name when omitted.

    Returns:
        ``{"filename", "content_type", "content_base64"}``.

    Example:
        >>> client.send_email(sender="agent@acme.test", to="bob@x.test", subject="Report", body="Attached.",
        ...                   attachments=[attachment("report.csv", b"a,b\\n1,2\\n")])
    """
    if data is None:
        data = Path(filename)
    if isinstance(data, Path):
        raw = data.read_bytes()
        filename = data.name if filename == str(data) else filename
    elif isinstance(data, str):
        raw = data.encode("utf-8")
    else:
        raw = bytes(data)
    ctype = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return {"filename": Path(filename).name, "content_type": ctype, "content_base64": base64.b64encode(raw).decode("ascii")}



# Keys that are Python keywords: a TypedDict base in the functional syntax carries them.
_Sender = TypedDict("_Sender", {"from": str})  # the sender's address, with its display name
_SenderOrNone = TypedDict("_SenderOrNone", {"from": Union[str, None]}, total=False)


class SendAnswer(TypedDict):
    """The JSON answer of send_email, reply_email and decide_email (the SDK wraps it in :class:`SendResult`)."""

    message_id: str
    thread_id: str
    status: str
    """The delivery status: `pending` (held for approval), `queued`, `sent`, ..."""
    approval_status: str | None
    """The approval status (`pending`, `approved`, ...) when the message needed approval; else null."""
    oversight_mode: str
    """The oversight mode applied to this message."""
    send_at: NotRequired[str | None]
    """A scheduled message's time (status `scheduled` until then); null: as soon as allowed."""
    duplicate: bool
    """A repeated request: this is the message the first one created."""


class InboxMessage(_Sender):
    """One item of ``check_inbox`` and ``claim_messages`` (``from`` is a key too: ``msg["from"]``)."""

    message_id: str
    thread_id: str
    to: list[str]
    cc: list[str]
    subject: str
    snippet: str
    """The start of the text body, on one line."""
    received_at: str
    tags: dict[str, str]
    read: bool
    is_reply: bool
    decision: str | None
    """The option a reply to decide_email chose."""


class InboxPage(TypedDict):
    """The answer of ``check_inbox``: newest first; ``next_cursor`` is ``None`` on the last page."""

    messages: list[InboxMessage]
    next_cursor: str | None


class AttachmentItem(TypedDict):
    """An attachment as an approver sees it (no content)."""

    attachment_id: str
    filename: str
    content_type: str
    size: int
    """In bytes."""


class AttachmentInfo(AttachmentItem):
    """An attachment of ``read_email``, with the ``url`` of ``get_attachment``."""

    url: str


class DecisionCheck(TypedDict):
    """For a reply to a decide_email question: whether it decided, and if not, why."""

    outcome: str
    """`decided`, or why not."""
    reason: str | None
    decision: NotRequired[str]
    description: NotRequired[str]
    proof: NotRequired[str]
    """What proved the reply came from a recipient."""
    question_message_id: NotRequired[str]
    link_sent_to: NotRequired[Any]


class HeldBecause(TypedDict):
    """Why a message was held for approval: ``code`` for programs, ``message`` for people."""

    code: str
    message: str
    mode: str
    recipients: list[Any]


class _Review(TypedDict):
    """What an approver is shown of a held outbound message: all that will leave."""

    content_hash: str
    """The content version an approval (approve_message's content_hash) is bound to."""
    headers: list[list[str]]
    """[name, value]: every header a recipient will see."""
    html_remote_content_blocked: int
    """Remote references removed from the HTML."""
    html_css_removed: bool
    html_css_text: list[str]
    html_other_text: list[str]
    html_note: str | None
    """What the safe rendering left out, in words."""
    held_because: HeldBecause | None
    approved_content_hash: str | None
    """The content version that was approved."""


class Message(_Sender):
    """The answer of ``read_email`` (``from`` is a key too)."""

    message_id: str
    thread_id: str
    mailbox: str
    internet_message_id: str
    in_reply_to: str | None
    references: list[str]
    to: list[str]
    cc: list[str]
    reply_to: list[str]
    subject: str
    body: str
    html: str | None
    """Sanitised: no remote references."""
    attachments: list[AttachmentInfo]
    tags: dict[str, str]
    direction: Literal["inbound", "outbound"]
    status: str
    approval_status: str | None
    oversight_mode: str | None
    is_reply: bool
    decision: str | None
    decision_check: DecisionCheck | None
    options: list[str] | None
    """A decide_email question's options."""
    read: bool
    metadata: dict[str, Any] | None
    created_at: str | None
    received_at: str | None
    sent_at: str | None
    bcc: NotRequired[list[str]]
    """Outbound messages only."""
    send_at: NotRequired[str | None]
    """Outbound only: the scheduled time, if it was scheduled."""
    failure_reason: NotRequired[str | None]
    """Outbound messages only."""
    authentication: NotRequired[dict[str, Any] | None]
    """Inbound only: SPF/DKIM/DMARC, or local delivery."""
    spam: NotRequired["SpamInfo"]
    """Inbound only: the spam verdict and quarantine state."""
    # held (or decided) outbound messages only: what the approver sees (_Review)
    content_hash: NotRequired[str]
    headers: NotRequired[list[list[str]]]
    html_remote_content_blocked: NotRequired[int]
    html_css_removed: NotRequired[bool]
    html_css_text: NotRequired[list[str]]
    html_other_text: NotRequired[list[str]]
    html_note: NotRequired[str | None]
    held_because: NotRequired[HeldBecause | None]
    approved_content_hash: NotRequired[str | None]


class ThreadMessage(_Sender):
    message_id: str
    to: list[str]
    cc: list[str]
    subject: str
    body: str
    direction: str
    is_reply: bool
    decision: str | None
    decision_check: DecisionCheck | None
    options: list[str] | None
    status: str
    created_at: str


class Thread(TypedDict):
    """The answer of ``get_thread``: messages oldest first; a human's answer to decide_email has ``decision``."""

    thread_id: str
    mailbox: str
    subject: str
    decision: str | None
    messages: list[ThreadMessage]


class TagResult(TypedDict):
    message_id: str
    tags: dict[str, str]
    """All the message's tags after the change (values as text)."""


class ApprovalBy(TypedDict):
    by: str
    """The approver: an API key's id, or the address of an approver who answered by email."""
    at: str


class PendingMessage(_Sender, _Review):
    """One item of ``list_pending``, and the answer of approve/edit/reject/cancel_message;
    ``status`` is the approval status, ``message_status`` the delivery status."""

    message_id: str
    thread_id: str
    mailbox: str
    status: Literal["pending", "approved", "rejected", "cancelled", "scheduled"]
    """The approval status; ``scheduled`` for a message never held that waits for its send_at
    (only in ``list_pending(flow_run_id=...)``: what that run's cancellation withdraws)."""
    message_status: str
    oversight_mode: str
    send_at: NotRequired[str | None]
    """A scheduled message's time: once approved it waits until then (the approver should know)."""
    to: list[str]
    cc: list[str]
    bcc: list[str]
    reply_to: list[str]
    subject: str
    body: str
    html: str | None
    options: list[str] | None
    metadata: dict[str, Any] | None
    created_by: str | None
    """The key that queued it."""
    created_at: str
    decided_at: str | None
    decided_by: str | None
    decision_note: str | None
    attachments: list[AttachmentItem]
    approvals: list[ApprovalBy]
    """Who approved so far (each approver once)."""
    approvals_required: int
    """N of M: the message is approved once this many different approvers approved."""
    approval_due_at: str | None
    """When the timeout applies (null: no timeout, or decided)."""
    on_timeout: Literal["reject", "escalate", "approve"] | None
    """What happens then."""
    escalated: bool
    """The first timeout passed and the escalation approvers were notified."""


class OutboundPause(TypedDict):
    mailbox: str | None
    """The paused mailbox; null with ``all_mailboxes``."""
    all_mailboxes: bool
    paused_at: str
    paused_by: str | None
    reason: str | None


class OutboundPauses(TypedDict):
    """The answer of pause_outbound, resume_outbound and list_paused: every pause in force."""

    paused: list[OutboundPause]


class PendingList(TypedDict):
    messages: list[PendingMessage]


class ApprovalOutcome(TypedDict):
    """How a held message's approval ended (the ``outcome`` of a :class:`FlowRunWait` of kind ``approval``).

    ``status`` is ``not_required`` when the message was never held for approval (it went
    straight out), so a flow waiting for it may carry on.
    """

    kind: Literal["approval"]
    message_id: str
    status: Literal["approved", "rejected", "cancelled", "not_required"]
    decided_by: str | None
    decided_at: str | None
    reason: str | None


class DecisionOutcome(_SenderOrNone, total=False):
    """The answer to a decide_email question (the ``outcome`` of a :class:`FlowRunWait` of kind
    ``decision``): ``decision`` is the chosen option, ``message_id`` the reply that chose it and
    ``from`` its sender (a key too: ``outcome["from"]``). When the question itself was rejected or
    cancelled, ``decision`` and ``message_id`` are ``None`` and ``status``, ``decided_by``,
    ``decided_at`` and ``reason`` say so (then there is no ``from``)."""

    kind: Literal["decision"]
    thread_id: str
    question_message_id: str
    message_id: str | None
    decision: str | None
    status: Literal["rejected", "cancelled"]
    decided_by: str | None
    decided_at: str | None
    reason: str | None


class FlowRunWait(TypedDict):
    """The answer of ``register_wait``: a Prefect flow run waiting for an approval or a decision.

    ``resume`` is ``prefect`` when the server will resume the paused run itself (it calls the
    Prefect API's ``POST /flow_runs/{id}/resume`` with ``{"run_input": outcome}`` the moment the
    outcome happens), ``none`` when it has no Prefect API configured and the caller must poll
    (``wait_id`` is then ``None``: nothing was recorded). ``outcome`` is ``None`` while
    ``status`` is ``waiting``. ``message_id`` or ``thread_id`` names what is awaited.
    """

    wait_id: str | None
    kind: Literal["approval", "decision"]
    flow_run_id: str
    message_id: NotRequired[str]
    """Kind `approval` only."""
    thread_id: NotRequired[str]
    """Kind `decision` only."""
    resume: Literal["prefect", "none"]
    pause_key: str | None
    """Pause under this key: the server resumes the run only from that pause."""
    status: Literal["waiting", "resolved"]
    outcome: ApprovalOutcome | DecisionOutcome | None
    resume_status: str | None
    """`waiting`, `due`, `resumed`, `answered` or `failed`."""


class Claim(TypedDict):
    """The answer of ``claim_messages``: ``claim_id`` is ``None`` (and ``messages`` empty) when
    nothing was there to claim."""

    claim_id: str | None
    mailbox: str
    messages: list[InboxMessage]
    lease_expires_at: str | None


class AckResult(TypedDict):
    claim_id: str
    acked: list[str]
    processed_at: str


class ReleaseResult(TypedDict):
    claim_id: str
    released: list[str]
    """What this call gave back."""


class QuietHours(TypedDict):
    start: str
    """HH:MM, local time."""
    end: str
    """HH:MM, local time; before start for a window across midnight."""
    timezone: str
    """An IANA time zone name, e.g. Europe/Berlin."""


class Mailbox(TypedDict):
    mailbox_id: str
    address: str
    display_name: str
    oversight_mode: str
    min_oversight: str
    """The floor a per-call override may not go below."""
    idempotency_window_seconds: int
    approvers: list[str]
    """Who is notified by email when a message is held, and may approve or reject it by link or reply."""
    approvals_required: int
    """N of M: how many different approvers must approve a held message (one reject rejects)."""
    approval_timeout: int | None
    """Seconds a held message waits for its approvals; null: no timeout."""
    on_timeout: Literal["reject", "escalate", "approve"]
    """What happens when the timeout passes."""
    escalate_to: list[str]
    """The approvers notified when a held message times out under on_timeout: escalate."""
    digest: Literal["hourly", "daily"] | None
    """A monitored mailbox's digest of what went out, sent to its approvers."""
    quiet_hours: QuietHours | None
    """A daily window in which none of its mail is handed over (it waits, in order)."""
    contacts_only: bool
    """Mail that would go out on its own to anyone not among its approved contacts is held."""
    spam_threshold: Union[float, None]
    """The baseline spam score at which its inbound mail is flagged; null: the server's setting."""
    retain_bodies_days: int | None
    """Days message bodies and raw bytes are kept before the purge job removes them; null: for ever."""
    retain_attachments_days: int | None
    """Days attachments (and the raw bytes carrying them) are kept; null: for ever."""
    gate_timing: NotRequired[Literal["gate_first", "schedule_first"]]
    """When a held scheduled message is put to the approvers: at once, or when it falls due."""
    created_at: str
    updated_at: str


class MailboxList(TypedDict):
    mailboxes: list[Mailbox]


class MailboxDeleted(TypedDict):
    mailbox_id: str
    address: str
    deleted: bool


class AuditEvent(TypedDict):
    event_id: str
    at: str
    actor: str | None
    """The key id; "system"; or, for an approval by email, the approver's address."""
    actor_role: str | None
    mailbox_id: str | None
    mailbox: str | None
    action: str
    """E.g. `message.approved`."""
    message_id: str | None
    oversight_mode: str | None
    approval_status: str | None
    details: Any


class AuditPage(TypedDict):
    events: list[AuditEvent]
    next_cursor: str | None


class Webhook(TypedDict):
    """A webhook subscription; ``secret`` is only in the answers of ``create_webhook`` and
    ``rotate_webhook_secret``."""

    webhook_id: str
    kind: str
    """`http`, `prefect_deployment` or `prefect_events`."""
    url: str | None
    """Kind `http`; null for the others."""
    deployment: NotRequired[str | None]
    """Kind `prefect_deployment` only."""
    parameter: NotRequired[str | None]
    """Kind `prefect_deployment` only: the flow parameter that gets the event."""
    events: list[str] | None
    """Null: all."""
    mailbox: str | None
    """Null: all in scope."""
    enabled: bool
    description: str
    consecutive_failures: int
    disabled_at: str | None
    disabled_reason: str | None
    created_at: str
    secret: NotRequired[str]
    previous_secret_valid_until: NotRequired[str]
    """Answer of `rotate_webhook_secret` only: the old secret also signs until then."""


class WebhookList(TypedDict):
    webhooks: list[Webhook]


class WebhookTest(TypedDict):
    """The answer of ``test_webhook``: the queued ``webhook.test`` delivery."""

    webhook_id: str
    delivery_id: str
    event_id: str
    status: str


class WebhookDeleted(TypedDict):
    webhook_id: str
    deleted: bool


class DeliveryAttempt(TypedDict):
    at: str
    status_code: int | None
    error: str | None
    response_body: str | None
    """Truncated."""
    duration_ms: int | None


class WebhookDelivery(TypedDict):
    delivery_id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: str
    """`pending`, `succeeded` or `failed`."""
    attempts: int
    next_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    created_at: str
    finished_at: str | None
    attempt_log: list[DeliveryAttempt]


class WebhookDeliveryPage(TypedDict):
    deliveries: list[WebhookDelivery]
    next_cursor: str | None


class Redelivered(TypedDict):
    redelivered: int
    """Deliveries queued again."""


class EventType(TypedDict):
    type: str
    description: str


class EventTypeList(TypedDict):
    event_types: list[EventType]


class ApiKey(TypedDict):
    """An API key; ``api_key`` (the secret) is only in the answer of ``create_api_key``."""

    key_id: str
    name: str
    role: str
    scopes: list[str]
    mailboxes: list[str] | None
    """Null: all."""
    prefix: str
    created_at: str
    revoked_at: str | None
    api_key: NotRequired[str]


class ApiKeyList(TypedDict):
    keys: list[ApiKey]


class Health(TypedDict):
    status: str
    version: str


class SigningKey(TypedDict, total=False):
    """A public key that signs ``X-MultiMail-Identity`` claims: a JWK plus ``kid``, ``pem`` and ``created_at``."""

    kty: str
    crv: str
    x: str
    y: str
    kid: str
    alg: str
    use: str
    pem: str
    created_at: str


class SigningKeys(TypedDict):
    """The answer of ``/.well-known/multimail-signing-key``: a JWK set and the key in use."""

    keys: list[SigningKey]
    kid: str
    header: str
    """The header the claims are in."""
    alg: str


class VerifyResult(TypedDict):
    """The answer of ``verify_message``."""

    dkim: dict[str, Any]
    identity: dict[str, Any]
    proves: list[str]
    does_not_prove: list[str]


class ErrorDetail(TypedDict):
    code: str
    """E.g. `not_found`, `invalid_field`, `rate_limited`, `too_many_waits`."""
    message: str
    details: dict[str, Any]
    """A 429 has `retry_after` (seconds) and `limit` (and `scope` for `too_many_waits`)."""


class ErrorBody(TypedDict):
    """Every error answer: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorDetail


# The server's response models are these TypedDicts. Its pydantic reads this plain dict (nothing
# is imported for it): an answer with a key not declared here fails validation, where pydantic's
# default would silently drop the key, so a view and its declaration cannot drift apart (the
# tests run the server strict, where that is a 500; a server in use logs it and sends the answer
# as built: api/errors.py). Field docstrings are for readers of this module and of docs/api.md:
# having pydantic read them (`use_attribute_docstrings`) re-reads this file's source for every
# model it builds, and made the server take 10 s to import instead of 3.
for _shape in [v for v in list(globals().values()) if isinstance(v, type) and is_typeddict(v)]:
    _shape.__pydantic_config__ = {"extra": "forbid"}  # type: ignore[attr-defined]


# -- who am I (GET /v1/whoami) ---------------------------------------------------------------------
# Appended after the loop above, so it sets its own strict config (see the comment there).


class WhoAmI(TypedDict):
    """The calling key: what it is and what it may do (so a client, e.g. the MCP server, offers only
    the operations that key may call)."""

    key_id: str | None
    """Null only for the local operator (the CLI), never over HTTP."""
    role: str
    """``agent``, ``approver`` or ``admin``: the narrowest role that describes ``scopes``."""
    scopes: list[str]
    mailboxes: list[str] | None
    """The addresses the key may act for; null: all."""


WhoAmI.__pydantic_config__ = {"extra": "forbid"}  # type: ignore[attr-defined]
# ================================================================================================
# The hosted API's dialect (api/routes/hosted, docs/hosted-api.md): the answers of the resource
# routes that code written for the hosted MultiMail service calls, with the field names of its
# OpenAPI document ("MultiMail API" 2.0.0). Not part of this SDK's own answers; declared here, as
# every response model is, so the server's OpenAPI document describes them and an answer has
# exactly these keys. A key ``None`` in every answer is one the hosted service fills and this
# server has no value for (docs/hosted-api.md says which).
# ================================================================================================

class HostedMailbox(TypedDict):
    id: str
    tenant_id: str
    address: str
    display_name: Union[str, None]
    oversight_mode: str
    min_oversight: str
    auto_cc: Union[str, None]
    auto_bcc: Union[str, None]
    forward_inbound: int
    webhook_url: Union[str, None]
    oversight_webhook_url: Union[str, None]
    signature_block: Union[str, None]
    created_at: int
    is_active: int
    mcp_configured: int
    contacts_only: int
    default_gate_timing: NotRequired[str]
    scheduling_enabled: NotRequired[int]


class HostedMailboxList(TypedDict):
    mailboxes: "list[HostedMailbox]"


class HostedStatus(TypedDict):
    """``{"id", "status"}``: ``updated``, ``deleted``, ``revoked`` ..."""

    id: str
    status: str


class HostedSendAnswer(TypedDict):
    id: str
    status: str
    thread_id: str
    message: str
    idempotent: bool
    send_at: NotRequired[str]
    """A scheduled message's delivery time."""


HostedEmailSummary = TypedDict("HostedEmailSummary", {
    "id": str, "from": str, "to": "list[str]", "cc": "list[str]", "subject": str, "direction": str, "status": str,
    "spam_score": Union[int, None], "spam_verdict": Union[str, None], "received_at": str, "thread_id": Union[str, None],
    "has_attachments": bool, "delivered_at": Union[str, None], "bounced_at": Union[str, None],
    "bounce_type": Union[str, None], "send_at": NotRequired[Union[str, None]],
})


class HostedEmailList(TypedDict):
    emails: "list[HostedEmailSummary]"
    cursor: Union[str, None]


class HostedAttachmentMeta(TypedDict):
    name: str
    size: int
    content_type: str


HostedEmail = TypedDict("HostedEmail", {
    "id": str, "from": str, "to": "list[str]", "cc": "list[str]", "subject": str, "received_at": str,
    "thread_id": Union[str, None], "markdown": str, "html": Union[str, None], "direction": str, "status": str,
    "has_attachments": bool, "attachments": "list[HostedAttachmentMeta]", "delivered_at": Union[str, None],
    "bounced_at": Union[str, None], "bounce_type": Union[str, None], "approved_at": Union[str, None],
    "approved_by": Union[str, None], "spam_score": Union[int, None], "spam_verdict": Union[str, None],
    "tags": "dict[str, str]", "send_at": NotRequired[Union[str, None]],
})


class HostedAttachmentUrl(TypedDict):
    url: str
    filename: str
    size_bytes: int
    content_type: str
    expires_in: Union[int, None]


class HostedTags(TypedDict):
    tags: "dict[str, str]"


class HostedTagDeleted(TypedDict):
    deleted: bool


HostedThreadEmail = TypedDict("HostedThreadEmail", {
    "id": str, "from": str, "to": "list[str]", "subject": str, "direction": str, "status": str, "received_at": str,
    "has_attachments": bool, "delivered_at": Union[str, None], "bounced_at": Union[str, None],
})


class HostedThread(TypedDict):
    thread_id: str
    subject: str
    message_count: int
    participants: "list[str]"
    last_activity: str
    has_unanswered_inbound: bool
    emails: "list[HostedThreadEmail]"


HostedPendingEmail = TypedDict("HostedPendingEmail", {
    "id": str, "mailbox_id": str, "direction": str, "from": str, "to": "list[str]", "subject": str,
    "body_markdown": str, "status": str, "received_at": str, "content_hash": Union[str, None],
})


class HostedPendingList(TypedDict):
    """``emails`` (the hosted OpenAPI document's name) and ``pending`` (the official Python SDK's): the same list."""

    emails: "list[HostedPendingEmail]"
    pending: "list[HostedPendingEmail]"


class HostedDecision(TypedDict):
    id: str
    status: str


class HostedWebhook(TypedDict):
    id: str
    url: Union[str, None]
    events: "list[str]"
    mailbox_id: Union[str, None]
    created_at: str
    signing_secret: NotRequired[str]
    """Only when it is created and in ``GET /v1/webhooks/{id}``."""


class HostedWebhookList(TypedDict):
    """``subscriptions`` (the hosted OpenAPI document's name) and ``webhooks`` (the official Python SDK's)."""

    subscriptions: "list[HostedWebhook]"
    webhooks: "list[HostedWebhook]"


class HostedApiKeyInfo(TypedDict):
    id: str
    name: str
    prefix: str
    scopes: "list[str]"
    mailboxes: Union["list[str]", None]
    created_at: str
    last_used_at: Union[str, None]
    is_active: bool


class HostedApiKeyList(TypedDict):
    api_keys: "list[HostedApiKeyInfo]"


class HostedApiKeyCreated(TypedDict):
    id: str
    api_key: str
    prefix: str
    name: str
    scopes: "list[str]"


class HostedAuditEntry(TypedDict):
    id: str
    action: str
    resource_type: str
    resource_id: str
    actor_key_id: str
    metadata: Union["dict[str, Any]", None]
    created_at: str


class HostedAuditPage(TypedDict):
    entries: "list[HostedAuditEntry]"
    cursor: Union[str, None]


class HostedDomain(TypedDict):
    id: str
    domain: str
    status: str
    dkim_verified: bool
    spf_verified: bool
    mx_verified: bool
    return_path_verified: bool
    dns_records: Union["dict[str, Any]", None]
    created_at: str
    verified_at: Union[str, None]


class HostedDomainList(TypedDict):
    domains: "list[HostedDomain]"


__all__ += [
    "HostedMailbox", "HostedMailboxList", "HostedStatus", "HostedSendAnswer", "HostedEmailSummary", "HostedEmailList",
    "HostedAttachmentMeta", "HostedEmail", "HostedAttachmentUrl", "HostedTags", "HostedTagDeleted", "HostedThreadEmail",
    "HostedThread", "HostedPendingEmail", "HostedPendingList", "HostedDecision", "HostedWebhook", "HostedWebhookList",
    "HostedApiKeyInfo", "HostedApiKeyList", "HostedApiKeyCreated", "HostedAuditEntry", "HostedAuditPage", "HostedDomain",
    "HostedDomainList",
]

for _shape in [v for k, v in list(globals().items()) if k.startswith("Hosted") and isinstance(v, type) and is_typeddict(v)]:
    _shape.__pydantic_config__ = {"extra": "forbid"}  # type: ignore[attr-defined]


# --- bounces and suppression (services/suppressions.py, services/bounces.py) -----------------


class Suppression(TypedDict):
    """One entry of a mailbox's suppression list. `address` is the matching key (lower case,
    IDN domain as A-labels); `reason`: hard_bounce, complaint or manual; `message_id`: the
    outbound message that bounced or was complained about."""

    address: str
    mailbox: str
    mailbox_id: str
    reason: Literal["hard_bounce", "complaint", "manual"]
    detail: Union[str, None]
    message_id: Union[str, None]
    created_by: Union[str, None]
    created_at: str


class SuppressionPage(TypedDict):
    suppressions: "list[Suppression]"
    next_cursor: Union[str, None]


class SuppressionAdded(TypedDict):
    """`added` is false when the address was on the list already (`suppression` is that entry)."""

    added: bool
    suppression: Suppression


class SuppressionsRemoved(TypedDict):
    removed: "list[Suppression]"


class HostedSuppression(TypedDict):
    email_address: str
    reason: str
    detail: Union[str, None]
    mailbox_id: str
    mailbox: str
    message_id: Union[str, None]
    created_at: str


class HostedSuppressionList(TypedDict):
    suppressions: "list[HostedSuppression]"
    next_cursor: Union[str, None]


class HostedSuppressionRemoved(TypedDict):
    email_address: str
    status: str
    removed: int


_SUPPRESSION_SHAPES = [Suppression, SuppressionPage, SuppressionAdded, SuppressionsRemoved, HostedSuppression,
                       HostedSuppressionList, HostedSuppressionRemoved]
__all__ += [s.__name__ for s in _SUPPRESSION_SHAPES]
for _shape in _SUPPRESSION_SHAPES:
    _shape.__pydantic_config__ = {"extra": "forbid"}  # type: ignore[attr-defined]


class Contact(TypedDict):
    """One entry of a mailbox's address book. `email` is the address as given (domain lower
    case); `approved`: added or re-added by an approver or admin key (only approved contacts
    count for the mailbox's `contacts_only`); `approved_by`: that key."""

    contact_id: str
    email: str
    name: str
    tags: list[str]
    mailbox: str
    mailbox_id: str
    approved: bool
    approved_by: Union[str, None]
    created_by: Union[str, None]
    created_at: str
    updated_at: str


class ContactAdded(TypedDict):
    """`created` is false when the address (in any spelling) was a contact already: `contact` is
    that entry, its name and tags replaced by those given."""

    created: bool
    contact: Contact


class ContactPage(TypedDict):
    contacts: "list[Contact]"
    next_cursor: Union[str, None]


class ContactDeleted(TypedDict):
    deleted: bool
    contact: Contact


class HostedContact(TypedDict):
    id: str
    email: str
    name: str
    tags: list[str]
    mailbox_id: str
    mailbox: str
    approved: bool
    created_at: str
    updated_at: str


class HostedContactList(TypedDict):
    contacts: "list[HostedContact]"
    next_cursor: Union[str, None]


_CONTACT_SHAPES = [Contact, ContactAdded, ContactPage, ContactDeleted, HostedContact, HostedContactList]
__all__ += [s.__name__ for s in _CONTACT_SHAPES]
for _shape in _CONTACT_SHAPES:
    _shape.__pydantic_config__ = {"extra": "forbid"}  # type: ignore[attr-defined]
class SpamSymbol(TypedDict):
    """One rule that contributed to a spam score (rspamd's symbol, or the baseline's)."""

    name: str
    score: float


class SpamInfo(TypedDict):
    """An inbound message's spam verdict and where it stands. `state`: null (in the inbox),
    `flagged` or `quarantined` (both left out of check_inbox and claims by default); `label`: the
    last report_spam (`spam`) or not_spam (`not_spam`); `source`: who scored it (`rspamd`,
    `baseline`, or null for mail delivered between hosted mailboxes, which is never scored)."""

    state: Union[Literal["flagged", "quarantined"], None]
    label: Union[Literal["spam", "not_spam"], None]
    source: Union[Literal["rspamd", "baseline"], None]
    score: Union[float, None]
    action: Union[str, None]
    """rspamd's action (reject, add header, ...); null for the baseline."""
    symbols: "list[SpamSymbol]"


class SpamMessage(InboxMessage):
    """A message of the quarantine (``list_spam``), with its mailbox and verdict."""

    mailbox: str
    has_attachments: bool
    spam: SpamInfo


class SpamPage(TypedDict):
    """The answer of ``list_spam``: newest first; ``next_cursor`` is ``None`` on the last page."""

    messages: "list[SpamMessage]"
    next_cursor: Union[str, None]


class SpamMarked(TypedDict):
    """The answer of ``report_spam`` / ``not_spam``. `trained`: whether rspamd learned from it
    (null when no rspamd is configured; false for agent keys, which never train the shared
    filter, or when rspamd did not answer); `training` says why in words."""

    message_id: str
    spam: SpamInfo
    read: bool
    """not_spam brings a message back unread."""
    trained: Union[bool, None]
    training: str


class HostedSpamLabel(TypedDict):
    """``{"id", "status", "user_label"}``: status ``spam_quarantined`` (report-spam) or ``unread`` /
    ``read`` (not-spam); user_label ``spam`` or ``not_spam``."""

    id: str
    status: str
    user_label: str
