"""Request bodies of the verb routes, as docs/api.md names them (the answers are client/types.py's TypedDicts).

Requests forbid unknown fields, so a typo (`"too": ...`) is a 400 naming the field rather than a
message silently sent without its recipient.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt

Addresses = str | list[str]
OversightMode = Literal["read_only", "gated_all", "gated_send", "monitored", "autonomous"]
MODES = "read_only, gated_all, gated_send, monitored or autonomous (strictest first)"
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

# Query parameters of every paged list (check_inbox, audit_log, list_webhook_deliveries), one wording.
PageLimit = Annotated[int | None, Query(ge=1, le=100, description="At most this many items per page (1-100; default 50).")]
SEARCH_DESCRIPTION = (
    "A search query: words and \"quoted phrases\" (anywhere in subject, sender, recipients or body; `word*` for "
    "a prefix), `from:` `to:` (incl. cc) `subject:` `body:`, `tag:key` or `tag:key:value`, `is:unread` `is:read`, "
    "`has:attachment`, `before:`/`after:` (YYYY-MM-DD or ISO 8601; after: includes the day), `-` to negate any term, "
    "`OR` and `( )`. Terms side by side must all match. See the API reference's search section.")
PageCursor = Annotated[str | None, Query(description="The `next_cursor` of the previous page; omit it for the first page.")]


# Fields that several requests share, described once.
MessageId = Annotated[str, Field(description="The message's id (msg_...).")]
Note = Annotated[str | None, Field(description="A note for the audit log (who decided and why).")]
Html = Annotated[str | None, Field(description="An HTML alternative to the text body.")]
Cc = Annotated[Addresses | None, Field(description="Copy recipients: an address or a list of them.")]
Bcc = Annotated[Addresses | None, Field(description="Blind copy recipients: an address or a list of them (not in the headers).")]
Attachments = Annotated[list["Attachment"] | None, Field(description="Files to attach, base64-encoded.")]
CallMode = Annotated[OversightMode | None, Field(
    description=f"Oversight for this call only: {MODES}. Stricter than the mailbox's mode is always allowed, "
                "looser only down to its `min_oversight` (else 403).")]
CallMetadata = Annotated[Metadata | None, Field(
    description=f"Free-form JSON kept with the message and passed to webhooks (at most {MAX_METADATA_DEPTH} levels deep).")]
IdempotencyKey = Annotated[str | None, Field(
    description="Pins the answer for 24 h: the same key with the same body answers the first result, with another "
                "body 409. Same as the `Idempotency-Key` header.")]
MailboxMode = Annotated[OversightMode | None, Field(description=f"The mailbox's default oversight: {MODES}.")]
Floor = Annotated[OversightMode | None, Field(
    description="The loosest mode a call may ask for (admin only); defaults to the mailbox's mode.")]
DISPLAY_NAME = "The name shown in the From header of its mail."
WINDOW = ("Seconds within which an identical send (same content, no key) answers the first message instead of "
          "sending again; 0 turns it off.")
WebhookId = Annotated[str, Field(description="The webhook's id (wh_...).")]
OnTimeout = Literal["reject", "escalate", "approve"]
Approvers = Annotated[list[str] | None, Field(
    description="Addresses of the humans notified by email when a message is held; each may approve or reject by "
                "the signed link in the notice or by replying \"approve\" / \"reject <reason>\". An empty list removes them.")]
ApprovalsRequired = Annotated[StrictInt | None, Field(
    description="N of M: how many different approvers must approve a held message (1-10; default 1). One reject rejects.")]
ApprovalTimeout = Annotated[StrictInt | None, Field(
    description="Seconds a held message waits for its approvals before `on_timeout` applies; 0 or absent: no timeout.")]
OnTimeoutField = Annotated[OnTimeout | None, Field(
    description="What happens when the timeout passes: reject (reason \"approval timed out\"), escalate (notify "
                "`escalate_to`; a second timeout rejects) or approve (only where the server allows it: "
                "MULTIMAIL_ALLOW_APPROVE_ON_TIMEOUT; else 403 approve_on_timeout_not_allowed).")]
EscalateTo = Annotated[list[str] | None, Field(description="The approvers notified when a held message times out under on_timeout: escalate.")]
Digest = Annotated[Literal["hourly", "daily", "off"] | None, Field(
    description="For a monitored mailbox: send its approvers a digest of what went out, hourly or daily (off: none).")]
ContactsOnly = Annotated[StrictBool | None, Field(
    description="Hold for a human any message that would go out on its own (autonomous, monitored, or a reply under "
                "gated_send) when a recipient is not one of the mailbox's approved contacts (add_contact by an approver "
                "or admin key); the reason names them. Admin only, like every mailbox setting.")]
class QuietHoursBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str = Field(description="HH:MM (24 h), local time: from when no mail of the mailbox goes out.")
    end: str = Field(description="HH:MM, local time: until when; before `start` for a window across midnight.")
    timezone: str = Field(description="The window's IANA time zone, e.g. Europe/Berlin.")


QuietHoursField = Annotated[QuietHoursBody | Literal["off"] | None, Field(
    description="A daily window in which none of the mailbox's outbound mail is handed over; it waits, in order, "
                "until the window ends (approvers' notices still go). \"off\" removes it.")]
RetainBodies = Annotated[StrictInt | None, Field(
    description="Days the purge job keeps this mailbox's message bodies and raw bytes; 0: for ever (the default). Held, "
                "queued and unsent mail, and threads awaiting a decision, are never purged; the audit trail always stays.")]
RetainAttachments = Annotated[StrictInt | None, Field(
    description="Days the purge job keeps this mailbox's attachments (and the raw bytes, which carry them); 0: for ever "
                "(the default).")]
CallTimeout = Annotated[StrictInt | None, Field(
    description="This message's own approval timeout in seconds, if it is held (an agent key may not shorten one "
                "that approves on timeout).")]
CallOnTimeout = Annotated[OnTimeout | None, Field(
    description="This message's own on_timeout, if it is held: an agent key may choose approve only when the mailbox "
                "itself approves on timeout (403 oversight_floor).")]


SendAt = Annotated[str | None, Field(
    description="Scheduled send: when the message may leave, ISO 8601 with a UTC offset (2026-03-15T14:00:00Z). Up to 5 "
                "minutes in the past means now; earlier is 400 send_at_in_past, more than 366 days ahead 400 "
                "send_at_too_far, no offset 400 invalid_send_at. The message is `scheduled` until then.")]
GateTiming = Annotated[Literal["gate_first", "schedule_first"] | None, Field(
    description="For a scheduled message that needs approval: gate_first asks the approvers now (once approved it "
                "waits for send_at), schedule_first asks them when it falls due. Default: the mailbox's gate_timing; "
                "an agent key may only choose the stricter schedule_first (403 oversight_floor).")]
MailboxGateTiming = Annotated[Literal["gate_first", "schedule_first"] | None, Field(
    description="When a held scheduled message is put to the approvers: gate_first (at once; default) or "
                "schedule_first (when it falls due, so no approval is older than the moment it leaves).")]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Attachment(Request):
    filename: str = Field(description="The file name the recipient sees.")
    content_type: str = Field("application/octet-stream", description="The file's MIME type.")
    content_base64: str = Field(description="The file's bytes, base64-encoded.")


class MailboxSettings(Request):
    """The settings of a mailbox that create_mailbox and update_mailbox both take, declared once.

    In update's form (absent: unchanged); CreateMailbox overrides display_name and the idempotency
    window with its defaults, and pydantic keeps an overridden field in its place, so both requests
    keep their field order (which decides which error a bad body is answered with first)."""

    oversight_mode: MailboxMode = None
    min_oversight: Floor = None
    display_name: str | None = Field(None, description=DISPLAY_NAME)
    idempotency_window_seconds: StrictInt | None = Field(None, description=WINDOW)
    approvers: Approvers = None
    approvals_required: ApprovalsRequired = None
    approval_timeout: ApprovalTimeout = None
    on_timeout: OnTimeoutField = None
    escalate_to: EscalateTo = None
    digest: Digest = None
    quiet_hours: QuietHoursField = None
    contacts_only: ContactsOnly = None
    retain_bodies_days: RetainBodies = None
    retain_attachments_days: RetainAttachments = None
    gate_timing: MailboxGateTiming = None


class NewMailboxAddress(Request):
    address: str = Field(description="The new mailbox's address, on a domain this server hosts.")


# A model's fields run from its rightmost base to itself: the address first, then the settings.
class CreateMailbox(MailboxSettings, NewMailboxAddress):
    display_name: str = Field("", description=DISPLAY_NAME)
    idempotency_window_seconds: StrictInt = Field(900, description=WINDOW)


class MailboxRef(Request):
    mailbox: str | None = Field(None, description="Address or mailbox id.")
    mailbox_id: str | None = Field(None, description="Or: the mailbox's id (mbx_...).")
    address: str | None = Field(None, description="Or: the mailbox's address.")

    def ref(self) -> str | None:
        return self.mailbox or self.mailbox_id or self.address


class UpdateMailbox(MailboxSettings, MailboxRef):
    # update_mailbox's own: create_mailbox starts every mailbox at the server's threshold
    spam_threshold: float | None = Field(
        None, strict=True, description="The baseline spam score at which its inbound mail is flagged as spam (twice it, and at least 5 more: "
        "quarantined); used when no rspamd is configured.")


class CallOptions(Request):
    """What every sending call may add for itself: its oversight, metadata and idempotency key."""

    oversight_mode: CallMode = None
    metadata: CallMetadata = None
    idempotency_key: IdempotencyKey = None


class CallPolicy(CallOptions):
    """The per-call policy of send_email and reply_email: CallOptions, the held message's own
    timeout, and scheduled send (when it may leave, and when its approvers are asked)."""

    approval_timeout: CallTimeout = None
    on_timeout: CallOnTimeout = None
    send_at: SendAt = None
    gate_timing: GateTiming = None


# The message fields of each sending call; the requests below add the call's options after them
# (a model's fields run from its rightmost base to itself).
class SendFields(Request):
    from_: str = Field(alias="from", description="The sending mailbox, as an address (display name allowed).")
    to: Addresses = Field(description="Recipients: an address or a list of them (display names allowed).")
    subject: str = Field(description="The subject line (no line breaks).")
    body: str = Field(description="The plain-text body.")
    html: Html = None
    cc: Cc = None
    bcc: Bcc = None
    reply_to: Addresses | None = Field(None, description="Where replies should go, if not to the sender.")
    attachments: Attachments = None


class ReplyFields(Request):
    message_id: str = Field(description="The message to reply to; the reply joins its thread.")
    body: str = Field(description="The plain-text body.")
    html: Html = None
    reply_all: StrictBool = Field(False, description="Also reply to the other recipients of the message.")
    cc: Cc = None
    bcc: Bcc = None
    attachments: Attachments = None


class DecideFields(Request):
    from_: str = Field(alias="from", description="The asking mailbox, as an address.")
    to: Addresses = Field(description="Who decides: an address or a list of them.")
    question: str = Field(description="The question, as the email states it.")
    options: list[str] = Field(description="The answers to choose from; each becomes a link in the email.")
    subject: str | None = Field(None, description="The subject line; derived from the question when omitted.")
    context: str | None = Field(None, description="Background shown above the question.")
    cc: Cc = None


class SendEmail(CallPolicy, SendFields):
    pass


class ReplyEmail(CallPolicy, ReplyFields):
    pass


class DecideEmail(CallOptions, DecideFields):
    pass


class EditScheduledEmail(Request):
    """The agent's own change of a message that waits for its send_at (see docs/api.md)."""

    message_id: MessageId
    send_at: SendAt = None
    to: Addresses | None = Field(None, description="New recipients (not after approval: 409 recipients_locked).")
    cc: Cc = None
    bcc: Bcc = None
    subject: str | None = Field(None, description="New subject line.")
    body: str | None = Field(None, description="New plain-text body.")
    html: Html = None


class ForwardFields(Request):
    message_id: str = Field(description="The stored message to forward (received or sent), with its attachments.")
    to: Addresses = Field(description="Recipients: an address or a list of them.")
    cc: Cc = None
    bcc: Bcc = None
    note: str | None = Field(None, description="Your text above the forwarded message.")


class ForwardEmail(CallOptions, ForwardFields):
    pass


class ApproveMessage(Request):
    message_id: MessageId
    note: Note = None
    subject: str | None = Field(None, description="Approver's edit of the subject before it goes out.")
    body: str | None = Field(None, description="Approver's edit of the text body.")
    html: str | None = Field(None, description="Approver's edit of the HTML body.")
    content_hash: str | None = Field(None, description="The content_hash of the pending item the approver was shown: "
                                     "if the message changed since, the approval is refused (409 content_changed).")


class EditMessage(Request):
    """An approver's edit of a held message, which stays held (its content_hash changes)."""

    message_id: MessageId
    note: Note = None
    subject: str | None = Field(None, description="The new subject.")
    body: str | None = Field(None, description="The new text body (the HTML body is dropped unless html is given too).")
    html: str | None = Field(None, description="The new HTML body.")
    to: Addresses | None = Field(None, description="The new recipients, replacing all of them: an address or a list "
                                 "(display names allowed), validated as in send_email.")
    cc: Addresses | None = Field(None, description="The new copy recipients, replacing them ([] removes them all).")
    bcc: Addresses | None = Field(None, description="The new blind copy recipients, replacing them ([] removes them all).")
    content_hash: str | None = Field(None, description="The content_hash the approver was shown; 409 content_changed "
                                     "if the message changed since.")


class RejectMessage(Request):
    message_id: MessageId
    reason: str | None = Field(None, description="Why (kept with the decision in the audit log).")


class TagEmail(Request):
    message_id: MessageId
    tags: list[str] | dict[str, str | int | float | bool | None] | None = Field(
        None, description="Tags to set: an object of key -> value, or a list of keys (empty values).")
    remove: list[str] | None = Field(None, description="Tag keys to remove.")


class CreateWebhook(Request):
    url: str | None = Field(None, description="The receiver (kind http).")
    kind: str = Field("http", description="http: signed POSTs to url. prefect_deployment: a flow run of `deployment` "
                      "on the server's Prefect API per event. prefect_events: the events into Prefect's event stream.")
    deployment: str | None = Field(None, description="prefect_deployment: a deployment id or \"flow-name/deployment-name\".")
    parameter: str | None = Field(None, description="prefect_deployment: the flow parameter that receives the event's data "
                                  "(default \"message\").")
    events: list[str] | None = Field(None, description="Event types to receive; all when omitted.")
    mailbox: str | None = Field(None, description="Only this mailbox's events; all in scope when omitted.")
    description: str = Field("", description="A note for people (what the webhook is for).")


class UpdateWebhook(Request):
    webhook_id: WebhookId
    url: str | None = Field(None, description="The new receiver URL (kind http).")
    events: list[str] | None = Field(None, description="The new list of event types.")
    enabled: StrictBool | None = Field(None, description="false pauses deliveries; true resumes them.")
    description: str | None = Field(None, description="A note for people (what the webhook is for).")


class Redeliver(Request):
    delivery_id: str | None = Field(None, description="One delivery to send again.")
    webhook_id: str | None = Field(None, description="Or: this webhook's finished deliveries in a time range.")
    since: datetime | None = Field(None, description="With webhook_id: the start of the time range.")
    until: datetime | None = Field(None, description="With webhook_id: the end of the time range.")
    status: Literal["succeeded", "failed"] | None = Field(None, description="With webhook_id: only deliveries that ended so.")


class WebhookRef(Request):
    webhook_id: WebhookId


class CreateApiKey(Request):
    role: Literal["agent", "approver", "admin"] | None = Field(
        None, description="agent (read, send), approver (read, oversight) or admin (everything).")
    scopes: list[str] | None = Field(None, description="Or (instead of role): the scopes themselves (read, send, oversight, admin).")
    mailboxes: list[str] | None = Field(None, description="The mailboxes the key may act on; all when omitted.")
    name: str = Field("", description="A label for people (who holds the key).")


class ApiKeyRef(Request):
    key_id: str = Field(description="The key's id (key_...), not its secret.")


class ClaimMessages(Request):
    mailbox: str = Field(description="Address or mailbox id.")
    limit: StrictInt = Field(10, ge=1, le=100, description="At most this many messages (oldest first).")
    lease_seconds: StrictInt = Field(300, ge=5, le=3600, description="How long the claim holds them without an ack.")
    tag: str | None = Field(None, description="Only messages with this tag key.")
    exclude_tag: str | None = Field(None, description="Only messages without this tag key.")
    include_spam: StrictBool = Field(False, description="Claim spam (flagged or quarantined) too; by default it is never claimed.")


class ClaimRef(Request):
    claim_id: str = Field(description="The claim's id, as claim_messages answered it.")
    message_ids: list[str] | None = Field(None, max_length=100, description="Some of the claim's messages; all when omitted.")


class RegisterWait(Request):
    flow_run_id: str = Field(description="The Prefect flow run that is about to pause (a UUID).")
    message_id: str | None = Field(None, description="Wait for this held message's approval, rejection or cancellation.")
    thread_id: str | None = Field(None, description="Wait for the answer to the decide_email question of this thread.")


class PauseOutbound(Request):
    mailbox: str | None = Field(None, description="Address or mailbox id to pause; absent: every mailbox.")
    reason: str | None = Field(None, description="Why, for the audit log.")


class ResumeOutbound(Request):
    mailbox: str | None = Field(None, description="Address or mailbox id to resume; absent: lift the pause of every mailbox "
                                "(a mailbox paused by name stays paused).")


class AddSuppression(Request):
    mailbox: str = Field(description="Address or mailbox id.")
    address: str = Field(description="The address to stop sending to (any spelling: matched case- and IDN-insensitively).")
    detail: str | None = Field(None, max_length=1000, description="Why, for the humans reading the list.")


class AddContact(Request):
    mailbox: str | None = Field(None, description="Address or mailbox id; may be left out when the key has one mailbox.")
    email: str = Field(description="The contact's address (a display name is taken as the name when `name` is not given).")
    name: str | None = Field(None, max_length=200, description="The contact's name; replaces the old one when the address is a contact already.")
    tags: list[str] | None = Field(None, description="Up to 20 tags (e.g. ['contractor']); replace the old ones when given.")


class DeleteContact(Request):
    contact_id: str = Field(description="The contact's id (ct_...), from add_contact or search_contacts.")


class RemoveSuppression(Request):
    mailbox: str = Field(description="Address or mailbox id.")
    address: str = Field(description="The suppressed address (any spelling of it).")


class SpamRef(Request):
    message_id: str = Field(description="The received message's id (msg_...).")
