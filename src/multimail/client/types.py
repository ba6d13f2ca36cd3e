"""Typed shapes of the API's answers (API.md).

:class:`SendResult` is a small frozen dataclass, since every sending call returns it and callers
use its fields directly. The other answers are passed through as the server's JSON objects; the
TypedDicts here document their fields for type checkers and editors (``total=False``: the server
may add fields, and it never renames or removes the ones named in API.md).

Standard library only.
"""

from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, TypedDict, Union

OversightMode = Literal["read_only", "gated_all", "gated_send", "monitored", "autonomous"]
Addresses = Union[str, "list[str]"]
TagValue = Union[str, int, float, bool, None]

__all__ = [
    "OversightMode", "Addresses", "TagValue", "SendResult", "Attachment", "attachment",
    "InboxMessage", "InboxPage", "AttachmentInfo", "Message", "ThreadMessage", "Thread",
    "PendingMessage", "PendingList", "Mailbox", "MailboxList", "AuditEvent", "AuditPage",
    "Webhook", "WebhookList", "ApiKey", "ApiKeyList", "Health", "TagResult",
    "ApprovalOutcome", "DecisionOutcome", "FlowRunWait",
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
            raw=dict(data),
        )


class Attachment(TypedDict):
    """An attachment to send: base64 content, as API.md's ``attachments`` items."""

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


class InboxMessage(TypedDict, total=False):
    """One item of ``check_inbox`` (``from`` is a key too: ``msg["from"]``)."""

    message_id: str
    thread_id: str
    to: list[str]
    cc: list[str]
    subject: str
    snippet: str
    received_at: str
    tags: dict[str, str]
    read: bool
    is_reply: bool
    decision: str | None


class InboxPage(TypedDict):
    """The answer of ``check_inbox``: newest first; ``next_cursor`` is ``None`` on the last page."""

    messages: list[InboxMessage]
    next_cursor: str | None


class AttachmentInfo(TypedDict, total=False):
    attachment_id: str
    filename: str
    content_type: str
    size: int
    url: str


class Message(TypedDict, total=False):
    """The answer of ``read_email`` (``from`` is a key too). Inbound mail has ``authentication``."""

    message_id: str
    thread_id: str
    mailbox: str
    internet_message_id: str
    in_reply_to: str | None
    references: Any
    to: list[str]
    cc: list[str]
    bcc: list[str]
    reply_to: Any
    subject: str
    body: str
    html: str | None
    attachments: list[AttachmentInfo]
    tags: dict[str, str]
    direction: Literal["inbound", "outbound"]
    status: str
    approval_status: str | None
    oversight_mode: str | None
    is_reply: bool
    decision: str | None
    options: list[str] | None
    read: bool
    metadata: dict[str, Any] | None
    created_at: str | None
    received_at: str | None
    sent_at: str | None
    authentication: dict[str, Any] | None


class ThreadMessage(TypedDict, total=False):
    message_id: str
    to: list[str]
    cc: list[str]
    subject: str
    body: str
    direction: str
    is_reply: bool
    decision: str | None
    options: list[str] | None
    status: str
    created_at: str


class Thread(TypedDict, total=False):
    """The answer of ``get_thread``: messages oldest first; a human's answer to decide_email has ``decision``."""

    thread_id: str
    mailbox: str
    subject: str
    decision: str | None
    messages: list[ThreadMessage]


class TagResult(TypedDict):
    message_id: str
    tags: dict[str, str]


class PendingMessage(TypedDict, total=False):
    """One item of ``list_pending``; ``status`` is the approval status."""

    message_id: str
    thread_id: str
    mailbox: str
    status: Literal["pending", "approved", "rejected", "cancelled"]
    message_status: str
    oversight_mode: str
    to: list[str]
    subject: str
    body: str
    created_at: str
    decided_at: str | None
    decided_by: str | None
    decision_note: str | None


class PendingList(TypedDict):
    messages: list[PendingMessage]


class ApprovalOutcome(TypedDict, total=False):
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


class DecisionOutcome(TypedDict, total=False):
    """The answer to a decide_email question (the ``outcome`` of a :class:`FlowRunWait` of kind
    ``decision``): ``decision`` is the chosen option, ``message_id`` the reply that chose it and
    ``from`` its sender (a key too: ``outcome["from"]``)."""

    kind: Literal["decision"]
    thread_id: str
    question_message_id: str
    message_id: str
    decision: str


class FlowRunWait(TypedDict, total=False):
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
    message_id: str
    thread_id: str
    resume: Literal["prefect", "none"]
    status: Literal["waiting", "resolved"]
    outcome: ApprovalOutcome | DecisionOutcome | None


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


class Mailbox(TypedDict, total=False):
    mailbox_id: str
    address: str
    display_name: str
    oversight_mode: str
    min_oversight: str
    idempotency_window_seconds: int
    created_at: str
    updated_at: str


class MailboxList(TypedDict):
    mailboxes: list[Mailbox]


class AuditEvent(TypedDict, total=False):
    event_id: str
    at: str
    actor: str | None
    actor_role: str | None
    mailbox_id: str | None
    mailbox: str | None
    action: str
    message_id: str | None
    oversight_mode: str | None
    approval_status: str | None
    details: Any


class AuditPage(TypedDict):
    events: list[AuditEvent]
    next_cursor: str | None


class Webhook(TypedDict, total=False):
    """A webhook subscription; ``secret`` is only in the answer of ``create_webhook``."""

    webhook_id: str
    url: str
    events: list[str] | None
    mailbox: str | None
    enabled: bool
    description: str
    secret: str
    created_at: str


class WebhookList(TypedDict):
    webhooks: list[Webhook]


class ApiKey(TypedDict, total=False):
    """An API key; ``api_key`` (the secret) is only in the answer of ``create_api_key``."""

    key_id: str
    name: str
    role: str
    scopes: list[str]
    mailboxes: list[str] | None
    prefix: str
    api_key: str
    created_at: str
    revoked_at: str | None


class ApiKeyList(TypedDict):
    keys: list[ApiKey]


class Health(TypedDict, total=False):
    status: str
    version: str
