"""Request bodies of the verb routes, as API.md names them (the answers are client/types.py's TypedDicts).

Requests forbid unknown fields, so a typo (`"too": ...`) is a 400 naming the field rather than a
message silently sent without its recipient.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt

Addresses = str | list[str]
OversightMode = Literal["read_only", "gated_all", "gated_send", "monitored", "autonomous"]
MAX_METADATA_DEPTH = 16


def _not_too_deep(value: dict[str, Any]) -> dict[str, Any]:
    """Free-form metadata may nest, but not without end (deep nesting exhausts the stack later)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_METADATA_DEPTH:
            raise ValueError(f"nested deeper than {MAX_METADATA_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return value


Metadata = Annotated[dict[str, Any], AfterValidator(_not_too_deep)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Attachment(Request):
    filename: str
    content_type: str = "application/octet-stream"
    content_base64: str


class CreateMailbox(Request):
    address: str
    oversight_mode: OversightMode | None = None
    min_oversight: OversightMode | None = None
    display_name: str = ""
    idempotency_window_seconds: StrictInt = 900


class MailboxRef(Request):
    mailbox: str | None = Field(None, description="Address or mailbox id.")
    mailbox_id: str | None = None
    address: str | None = None

    def ref(self) -> str | None:
        return self.mailbox or self.mailbox_id or self.address


class UpdateMailbox(MailboxRef):
    oversight_mode: OversightMode | None = None
    min_oversight: OversightMode | None = None
    display_name: str | None = None
    idempotency_window_seconds: StrictInt | None = None


class SendEmail(Request):
    from_: str = Field(alias="from", description="The sending mailbox, as an address (display name allowed).")
    to: Addresses
    subject: str
    body: str
    html: str | None = None
    cc: Addresses | None = None
    bcc: Addresses | None = None
    reply_to: Addresses | None = None
    attachments: list[Attachment] | None = None
    oversight_mode: OversightMode | None = None
    metadata: Metadata | None = None
    idempotency_key: str | None = None


class ReplyEmail(Request):
    message_id: str
    body: str
    html: str | None = None
    reply_all: StrictBool = False
    cc: Addresses | None = None
    bcc: Addresses | None = None
    attachments: list[Attachment] | None = None
    oversight_mode: OversightMode | None = None
    metadata: Metadata | None = None
    idempotency_key: str | None = None


class DecideEmail(Request):
    from_: str = Field(alias="from")
    to: Addresses
    question: str
    options: list[str]
    subject: str | None = None
    context: str | None = None
    cc: Addresses | None = None
    oversight_mode: OversightMode | None = None
    metadata: Metadata | None = None
    idempotency_key: str | None = None


class ApproveMessage(Request):
    message_id: str
    note: str | None = None
    subject: str | None = Field(None, description="Approver's edit of the subject before it goes out.")
    body: str | None = Field(None, description="Approver's edit of the text body.")
    html: str | None = Field(None, description="Approver's edit of the HTML body.")
    content_hash: str | None = Field(None, description="The content_hash of the pending item the approver was shown: "
                                     "if the message changed since, the approval is refused (409 content_changed).")


class EditMessage(Request):
    """An approver's edit of a held message, which stays held (its content_hash changes)."""

    message_id: str
    note: str | None = None
    subject: str | None = Field(None, description="The new subject.")
    body: str | None = Field(None, description="The new text body (the HTML body is dropped unless html is given too).")
    html: str | None = Field(None, description="The new HTML body.")
    content_hash: str | None = Field(None, description="The content_hash the approver was shown; 409 content_changed "
                                     "if the message changed since.")


class RejectMessage(Request):
    message_id: str
    reason: str | None = None


class TagEmail(Request):
    message_id: str
    tags: list[str] | dict[str, str | int | float | bool | None] | None = None
    remove: list[str] | None = None


class CreateWebhook(Request):
    url: str | None = Field(None, description="The receiver (kind http).")
    kind: str = Field("http", description="http: signed POSTs to url. prefect_deployment: a flow run of `deployment` "
                      "on the server's Prefect API per event. prefect_events: the events into Prefect's event stream.")
    deployment: str | None = Field(None, description="prefect_deployment: a deployment id or \"flow-name/deployment-name\".")
    parameter: str | None = Field(None, description="prefect_deployment: the flow parameter that receives the event's data "
                                  "(default \"message\").")
    events: list[str] | None = Field(None, description="Event types to receive; all when omitted.")
    mailbox: str | None = Field(None, description="Only this mailbox's events; all in scope when omitted.")
    description: str = ""


class UpdateWebhook(Request):
    webhook_id: str
    url: str | None = None
    events: list[str] | None = None
    enabled: StrictBool | None = None
    description: str | None = None


class Redeliver(Request):
    delivery_id: str | None = Field(None, description="One delivery to send again.")
    webhook_id: str | None = Field(None, description="Or: this webhook's finished deliveries in a time range.")
    since: datetime | None = None
    until: datetime | None = None
    status: Literal["succeeded", "failed"] | None = None


class WebhookRef(Request):
    webhook_id: str


class CreateApiKey(Request):
    role: Literal["agent", "approver", "admin"] | None = None
    scopes: list[str] | None = None
    mailboxes: list[str] | None = None
    name: str = ""


class ApiKeyRef(Request):
    key_id: str


class ClaimMessages(Request):
    mailbox: str = Field(description="Address or mailbox id.")
    limit: StrictInt = Field(10, ge=1, le=100, description="At most this many messages (oldest first).")
    lease_seconds: StrictInt = Field(300, ge=5, le=3600, description="How long the claim holds them without an ack.")
    tag: str | None = Field(None, description="Only messages with this tag key.")
    exclude_tag: str | None = Field(None, description="Only messages without this tag key.")


class ClaimRef(Request):
    claim_id: str
    message_ids: list[str] | None = Field(None, max_length=100, description="Some of the claim's messages; all when omitted.")


class RegisterWait(Request):
    flow_run_id: str = Field(description="The Prefect flow run that is about to pause (a UUID).")
    message_id: str | None = Field(None, description="Wait for this held message's approval, rejection or cancellation.")
    thread_id: str | None = Field(None, description="Wait for the answer to the decide_email question of this thread.")
