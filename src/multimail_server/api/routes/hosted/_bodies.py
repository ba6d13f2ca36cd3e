"""Request bodies of the hosted dialect, with the field names of the hosted OpenAPI document and of
what the official MCP server and Python SDK send. Unknown fields are still a 400 naming the field
(api/schemas.py's rule): every field those clients send is declared, and a field this server
cannot honour is refused by the adapter (501) rather than silently dropped."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictBool, StrictInt

from ...schemas import OversightMode, Request

Scopes = list[Literal["read", "send", "admin", "oversight"]]


def _read_only() -> Scopes:
    return ["read"]

APPROVAL_CODE = ("The hosted service's operator approval code. Not needed here (an admin key is the operator's): "
                 "accepted and unused.")


class HostedAttachment(Request):
    name: str = Field(description="The file name the recipient sees.")
    content_base64: str = Field(description="The file's bytes, base64-encoded.")
    content_type: str = Field(description="The file's MIME type, e.g. application/pdf.")


CONTACTS_ONLY = ("This server's own setting (admin): hold for a human any message that would go out on its own when a "
                 "recipient is not one of the mailbox's approved contacts (POST /v1/contacts by an approver or admin key).")


class CreateMailboxBody(Request):
    address_local: str | None = Field(None, description="A full address on a domain this server hosts, or a bare local "
                                      "part when every mailbox of the server shares one domain.")
    address: str | None = Field(None, description="Or (the official Python SDK's name): the same.")
    display_name: str | None = Field(None, description="The name shown in the From header of its mail.")
    oversight_mode: OversightMode | None = Field(None, description="The oversight mode (default gated_send); an admin "
                                                 "may choose any (the hosted service ignores it).")
    webhook_url: str | None = Field(None, description="Not supported here (501 when given): create a webhook "
                                    "with POST /v1/webhooks and mailbox_id.")
    approval_code: str | None = Field(None, description=APPROVAL_CODE)
    ai_disclosure: StrictBool | None = Field(None, description="Not supported here (501 when given).")
    contacts_only: StrictBool | None = Field(None, description=CONTACTS_ONLY)


class UpdateMailboxBody(Request):
    """PATCH /v1/mailboxes/{id} and its /configure twin (which the hosted MCP server calls)."""

    display_name: str | None = Field(None, description="The name shown in the From header of its mail.")
    oversight_mode: OversightMode | None = Field(None, description="The mailbox's oversight mode (admin; "
                                                 "never looser than its floor, min_oversight).")
    auto_cc: str | None = Field(None, description="Not supported here: null only (501 otherwise).")
    auto_bcc: str | None = Field(None, description="Not supported here: null only (501 otherwise).")
    forward_inbound: StrictBool | None = Field(None, description="Not supported here: false only (501 otherwise).")
    webhook_url: str | None = Field(None, description="Not supported here: null only; use POST /v1/webhooks.")
    oversight_webhook_url: str | None = Field(None, description="Not supported here: null only; subscribe a webhook "
                                              "to oversight.pending instead.")
    signature_block: str | None = Field(None, description="Not supported here: null or empty only (501 otherwise).")
    default_gate_timing: Literal["gate_first", "schedule_first"] | None = Field(
        None, description="When a held scheduled message is put to the approvers: gate_first (at once) or "
                          "schedule_first (when it falls due).")
    scheduling_enabled: StrictInt | StrictBool | None = Field(None, description="1 or true is accepted: every mailbox "
                                                              "here may schedule (it reads 1); 0 or false is a 501.")
    ai_disclosure: StrictInt | StrictBool | None = Field(None, description="Not supported here (501 when given).")
    mcp_configured: StrictInt | StrictBool | None = Field(None, description="The hosted MCP server's first-run flag; "
                                                          "accepted (self-hosted mailboxes are always configured).")
    contacts_only: StrictBool | None = Field(None, description=CONTACTS_ONLY)
    # Self-hosted additions (the hosted document has no retention settings): services/retention.py.
    retain_bodies_days: StrictInt | None = Field(None, description="Self-hosted: days message bodies and raw bytes are "
                                                 "kept before the purge job removes them; 0: for ever.")
    retain_attachments_days: StrictInt | None = Field(None, description="Self-hosted: days attachments are kept; 0: for ever.")


SEND_AT = ("Scheduled send: the delivery time, ISO 8601 with a UTC offset (2026-03-15T14:00:00Z). Up to 5 minutes "
           "past means now; earlier, more than 366 days ahead or without an offset is a 400.")
GATE_TIMING = ("For a held scheduled message: gate_first asks the approvers now, schedule_first when it falls due "
               "(default: the mailbox's; an agent key may only choose schedule_first).")


class SendBody(Request):
    to: list[str] = Field(max_length=50, description="Recipient addresses.")
    subject: str = Field(description="The subject line (no line breaks).")
    markdown: str = Field(max_length=262144, description="The body in markdown: sent as an HTML part (rendered, "
                          "sanitised) and a plain-text part (the markdown itself).")
    cc: list[str] | None = Field(None, description="Copy recipients.")
    bcc: list[str] | None = Field(None, description="Blind copy recipients.")
    attachments: list[HostedAttachment] | None = Field(None, description="Files to attach, base64-encoded.")
    idempotency_key: str | None = Field(None, description="Pins the answer for 24 h: the same key again answers the "
                                        "first message (200, idempotent); with another body 409.")
    send_at: str | None = Field(None, description=SEND_AT)
    gate_timing: Literal["gate_first", "schedule_first"] | None = Field(None, description=GATE_TIMING)


class ReplyBody(Request):
    markdown: str = Field(max_length=262144, description="The reply in markdown (HTML and plain-text parts, as for send).")
    cc: list[str] | None = Field(None, description="Copy recipients, beside the message's sender.")
    bcc: list[str] | None = Field(None, description="Blind copy recipients.")
    attachments: list[HostedAttachment] | None = Field(None, description="Files to attach, base64-encoded.")
    idempotency_key: str | None = Field(None, description="Pins the answer for 24 h, as for send.")
    send_at: str | None = Field(None, description=SEND_AT)
    gate_timing: Literal["gate_first", "schedule_first"] | None = Field(None, description=GATE_TIMING)


class ScheduleBody(Request):
    send_at: str | None = Field(None, description="The new delivery time (ISO 8601 with offset, e.g. 2026-03-15T14:00:00Z).")
    to: list[str] | None = Field(None, max_length=50, description="New recipients (409 recipients_locked once approved).")
    cc: list[str] | None = Field(None, description="New copy recipients.")
    bcc: list[str] | None = Field(None, description="New blind copy recipients.")
    subject: str | None = Field(None, description="New subject line.")
    markdown: str | None = Field(None, max_length=262144, description="New body in markdown.")


class TagsBody(Request):
    tags: dict[str, str] = Field(description="The message's tags after the call: every other tag is removed.")


class DecideBody(Request):
    email_id: str = Field(min_length=1, description="The held message's id (msg_...).")
    action: Literal["approve", "reject"] = Field(description="approve (it then goes out) or reject (it never does).")
    reason: str | None = Field(None, description="Why, kept with the decision in the audit log.")


class CreateWebhookBody(Request):
    url: str = Field(description="The receiver: an http(s) URL that gets signed POSTs (Standard Webhooks).")
    events: list[str] = Field(description="Event types: the hosted names (message.received, message.sent, "
                              "message.delivered, message.bounced, oversight.pending, oversight.approved, "
                              "oversight.rejected) or this server's (GET /v1/list_event_types).")
    mailbox_id: str | None = Field(None, description="Only this mailbox's events (id or address); all when omitted.")
    secret: str | None = Field(None, description="Not supported (501 when given): this server makes the signing secret.")
    approval_code: str | None = Field(None, description=APPROVAL_CODE)


class CreateApiKeyBody(Request):
    name: str = Field(description="A label for people (who holds the key).")
    scopes: Scopes = Field(default_factory=_read_only, description="read, send, oversight, admin (default read). "
                           "send with oversight needs admin: an agent must never approve its own mail.")
    approval_code: str | None = Field(None, description=APPROVAL_CODE)


class AddDomainBody(Request):
    domain: str = Field(description="The domain to sign mail of (a DKIM key is made for it).")


def given(body: Request, *names: str) -> dict[str, Any]:
    """The fields among `names` the caller set to a value (not null)."""
    return {n: getattr(body, n) for n in names if getattr(body, n) is not None}
