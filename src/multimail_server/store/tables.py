"""The schema, declared once. Alembic migrations under `migrations/` create and evolve it; a
test checks that a migrated database and this declaration agree."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.types import DateTime, TypeDecorator

# Stable constraint names so migrations can refer to them on both databases.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in Python, naive UTC in the database (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to UTCDateTime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# A sequence number that is the primary key: INTEGER PRIMARY KEY on SQLite (rowid), BIGSERIAL-like
# identity on PostgreSQL. It orders rows by insertion for stable cursors.
def _seq() -> Column:
    return Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)


api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, default=""),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(20), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("mailboxes", JSON, nullable=True),  # list of addresses; NULL = every mailbox
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(40), nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)

mailboxes = Table(
    "mailboxes",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("address", String(320), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False, default=""),
    Column("oversight_mode", String(20), nullable=False),
    Column("min_oversight", String(20), nullable=False),
    Column("idempotency_window_seconds", Integer, nullable=False, default=900),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Approval policies (core/approval_policy.py): who approves by email, N of M, the timeout and
    # what happens then, the second list of approvers, and the digest of a monitored mailbox
    # (`digest_sent_until`: the end of the last period a digest was queued for).
    Column("approvers", JSON, nullable=True),
    Column("approvals_required", Integer, nullable=False, default=1, server_default="1"),
    Column("approval_timeout", Integer, nullable=True),
    Column("on_timeout", String(20), nullable=False, default="reject", server_default="reject"),
    Column("escalate_to", JSON, nullable=True),
    Column("digest", String(10), nullable=True),
    Column("digest_sent_until", UTCDateTime, nullable=True),
    Column("quiet_hours", JSON, nullable=True),  # {start, end, timezone}: a daily window without outbound mail
    # Autonomous mail to anyone not among the mailbox's approved contacts is held (services/contacts.py).
    Column("contacts_only", Boolean, nullable=False, default=False, server_default=false()),
    # The baseline spam score at which inbound mail is flagged (core/spam.py); NULL: the server's setting.
    Column("spam_threshold", Float, nullable=True),
    # Retention (services/retention.py): days a message's bodies and raw bytes, and its
    # attachments, are kept; NULL keeps them for ever.
    Column("retain_bodies_days", Integer, nullable=True),
    Column("retain_attachments_days", Integer, nullable=True),
    # Scheduled send (core/scheduling.py): whether a held scheduled message is approved before it
    # waits (gate_first) or when it falls due (schedule_first); a call may only pick the stricter.
    Column("gate_timing", String(20), nullable=False, default="gate_first", server_default="gate_first"),
)

threads = Table(
    "threads",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("mailbox_id", String(40), ForeignKey("mailboxes.id"), nullable=False, index=True),
    Column("subject", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_message_at", UTCDateTime, nullable=False),
)

messages = Table(
    "messages",
    metadata,
    _seq(),
    Column("id", String(40), nullable=False, unique=True),
    Column("mailbox_id", String(40), ForeignKey("mailboxes.id"), nullable=False),
    Column("thread_id", String(40), ForeignKey("threads.id"), nullable=False, index=True),
    Column("direction", String(10), nullable=False),  # inbound | outbound
    Column("status", String(20), nullable=False),
    Column("approval_status", String(20), nullable=True),  # pending | approved | rejected | cancelled
    Column("oversight_mode", String(20), nullable=True),
    Column("kind", String(20), nullable=False, default="message"),  # message | decision
    Column("internet_message_id", String(998), nullable=False, index=True),
    Column("in_reply_to", String(998), nullable=True),
    Column("references", JSON, nullable=False, default=list),
    Column("parent_id", String(40), nullable=True),
    Column("is_reply", Boolean, nullable=False, default=False),
    Column("from_addr", Text, nullable=False),
    Column("to_addrs", JSON, nullable=False),
    Column("cc_addrs", JSON, nullable=False, default=list),
    Column("bcc_addrs", JSON, nullable=False, default=list),
    Column("reply_to", JSON, nullable=False, default=list),
    Column("subject", Text, nullable=False, default=""),
    Column("body_text", Text, nullable=False, default=""),
    Column("body_html", Text, nullable=True),
    Column("options", JSON, nullable=True),  # decide_email: the options asked
    Column("decision", String(200), nullable=True),  # inbound reply: the option it chose
    Column("metadata", JSON, nullable=False, default=dict),
    Column("raw", LargeBinary, nullable=True),  # RFC 5322 bytes: as received, or as handed over
    Column("read", Boolean, nullable=False, default=False),
    Column("created_by", String(40), nullable=True),  # api key id that queued it
    Column("created_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=True),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("decided_at", UTCDateTime, nullable=True),
    Column("decided_by", String(320), nullable=True),  # a key id, or an approver's address
    Column("decision_note", Text, nullable=True),
    Column("failure_reason", Text, nullable=True),
    # claim_messages (store/claims.py): the lease an inbound message is held under, and when a
    # claimer acknowledged it as processed (processed messages are never claimed again).
    Column("claim_id", String(40), nullable=True, index=True),
    Column("claimed_until", UTCDateTime, nullable=True),
    Column("processed_at", UTCDateTime, nullable=True),
    # The Prefect flow run that queued this message (from metadata.prefect.flow_run_id), so a
    # cancelled run's hook can find and withdraw its pending mail.
    Column("flow_run_id", String(36), nullable=True, index=True),
    # Inbound mail keeps its bytes once in `raw_blobs` (a message to N hosted mailboxes is N rows
    # naming one blob); `raw` stays for outbound mail, whose bytes are the hand-over record.
    Column("raw_sha256", String(64), nullable=True, index=True),
    # The content version a human approved (core.content_version of what will leave), so what
    # goes out is provably what was approved and a stale approval is refused.
    Column("approved_content_hash", String(64), nullable=True),
    # A held message's approval policy (core/approval_policy.HeldPolicy), the approvals collected
    # so far ([{by, at, content_hash, via}], reset by an edit) and when its timeout is due.
    Column("approval_policy", JSON, nullable=True),
    Column("approvals", JSON, nullable=True),
    Column("approval_due_at", UTCDateTime, nullable=True, index=True),
    # Per-recipient delivery reports for an outbound message (services/bounces.py): address ->
    # {action, status, diagnostic, kind, at}.
    Column("bounces", JSON, nullable=True),
    # Spam (core/spam.py): the verdict at receive time ({source, score, action, symbols}), the
    # quarantine state (NULL: in the inbox; flagged | quarantined: left out of check_inbox, claims
    # and message.received) and the last label a key gave it (spam | not_spam).
    Column("spam_verdict", JSON, nullable=True),
    Column("spam_state", String(12), nullable=True),
    Column("spam_label", String(10), nullable=True),
    # Retention: when the purge job removed the bodies and raw bytes (`purged_at`) and the
    # attachments' content (`attachments_purged_at`, which also removes the raw bytes, since they
    # carry the attachments). Hashes, headers and the audit trail stay.
    Column("purged_at", UTCDateTime, nullable=True),
    Column("attachments_purged_at", UTCDateTime, nullable=True),
    # Scheduled send: the earliest time the message may leave, and for a held one whether it was
    # (or will be, when due) put to the approvers first (services/scheduling.py).
    Column("send_at", UTCDateTime, nullable=True),
    Column("gate_timing", String(20), nullable=True),
    Index("ix_messages_mailbox_direction_seq", "mailbox_id", "direction", "seq"),
    Index("ix_messages_approval", "approval_status", "decided_at"),
    Index("ix_messages_claimable", "mailbox_id", "direction", "processed_at", "seq"),
    # A mailbox's messages by Message-ID (inbound de-duplication and threading, every received
    # message): with only the single-column index, SQLite chose ix_messages_claimable on
    # mailbox_id alone and scanned the whole mailbox for each message received.
    Index("ix_messages_mailbox_internet_id", "mailbox_id", "internet_message_id"),
    # check_inbox(unread=true), what an agent polls: without `read` in the index a mailbox whose
    # mail is all read was scanned to its end to find that there is nothing new.
    Index("ix_messages_mailbox_direction_read_seq", "mailbox_id", "direction", "read", "seq"),
    # list_spam: a mailbox's quarantine newest first, without scanning its inbox.
    Index("ix_messages_mailbox_spam_seq", "mailbox_id", "spam_state", "seq"),
    # The purge job's scan: a mailbox's messages older than its retention window.
    Index("ix_messages_mailbox_created", "mailbox_id", "created_at"),
)

# One row per claim_messages call that leased something: who holds it, until when, and which
# messages it covered (so an ack after the lease ran out is a 409 even once another caller has
# claimed the same messages again).
message_claims = Table(
    "message_claims",
    metadata,
    Column("id", String(40), primary_key=True),
    # No foreign key: delete_mailbox removes mail, and a claim left behind simply answers 404.
    Column("mailbox_id", String(40), nullable=False, index=True),
    Column("claimed_by", String(40), nullable=False),
    Column("message_ids", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("lease_expires_at", UTCDateTime, nullable=False),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("message_id", String(40), ForeignKey("messages.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("filename", Text, nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", Integer, nullable=False),
    # The bytes, or NULL when they live in the blob store (store/blobs.py) or were purged;
    # `content_sha256` names them either way.
    Column("content", LargeBinary, nullable=True),
    Column("content_sha256", String(64), nullable=True, index=True),
)

message_tags = Table(
    "message_tags",
    metadata,
    Column("message_id", String(40), ForeignKey("messages.id"), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False, default=""),
    Index("ix_message_tags_key", "key"),
)

# Signing domains: each hosted domain's DKIM key (`multimail domains add`).
domains = Table(
    "domains",
    metadata,
    Column("domain", String(255), primary_key=True),
    Column("dkim_selector", String(63), nullable=False),
    Column("dkim_private_key", Text, nullable=False),  # PEM
    Column("dkim_public_key", Text, nullable=False),  # base64 of the DER SubjectPublicKeyInfo, as in the DNS record
    Column("created_at", UTCDateTime, nullable=False),
)

# The server's own keys, e.g. the ECDSA P-256 key that signs X-MultiMail-Identity claims.
server_keys = Table(
    "server_keys",
    metadata,
    Column("id", String(40), primary_key=True),  # the key id (kid) published with the public key
    Column("kind", String(30), nullable=False, index=True),
    Column("private_key", Text, nullable=False),  # PEM
    Column("public_key", Text, nullable=False),  # PEM
    Column("created_at", UTCDateTime, nullable=False),
)

# One-click decision links: each link is single use; a row records its use.
decision_links = Table(
    "decision_links",
    metadata,
    Column("id", String(40), primary_key=True),  # the link's nonce
    Column("message_id", String(40), nullable=False, index=True),  # the decide_email question
    Column("option", String(200), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Column("used_message_id", String(40), nullable=True),  # the decision it recorded
)

# The delivery worker's queue: one row per message to hand over; claimed with a lease so a
# crashed worker's row is taken over, and so several workers can share one database.
approval_links = Table(
    "approval_links",
    metadata,
    Column("id", String(40), primary_key=True),  # the link's nonce
    Column("message_id", String(40), nullable=False, index=True),  # the held message
    Column("approver", String(320), nullable=False),
    Column("content_hash", String(64), nullable=False),  # the version the approver was sent
    Column("notification_id", String(40), nullable=True),  # the notification message carrying it
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Column("outcome", String(20), nullable=True),  # approved | rejected, once used
)

# The kill switch: while a row names a mailbox id (or "*": every mailbox), the delivery worker
# hands none of its mail over; held and queued mail waits, in order.
outbound_pauses = Table(
    "outbound_pauses",
    metadata,
    Column("scope", String(40), primary_key=True),
    Column("paused_at", UTCDateTime, nullable=False),
    Column("paused_by", String(320), nullable=True),
    Column("reason", Text, nullable=True),
)

outbox = Table(
    "outbox",
    metadata,
    _seq(),
    Column("message_id", String(40), ForeignKey("messages.id"), nullable=False, unique=True),
    Column("state", String(20), nullable=False),  # ready | done | failed | cancelled
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    # A hand-over to a non-transactional transport (an SMTP relay) is recorded before it starts
    # and its answer after, so a restart in between is known and a 250 is never repeated.
    Column("handoff_started_at", UTCDateTime, nullable=True),
    Column("handoff_result", Text, nullable=True),
    # A scheduled message's send_at: the row is never claimed before it, whatever next_attempt_at says.
    Column("not_before", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_outbox_state_next", "state", "next_attempt_at"),
)

# Addresses a mailbox no longer sends to: hard bounces, complaints (ARF) and manual entries.
# `address` is the suppression key of services/suppressions.py (case and IDN forms folded), so
# one person is one row however the address was spelled.
suppressions = Table(
    "suppressions",
    metadata,
    _seq(),
    Column("mailbox_id", String(40), ForeignKey("mailboxes.id"), nullable=False),
    Column("address", String(320), nullable=False),
    Column("reason", String(20), nullable=False),  # hard_bounce | complaint | manual
    Column("detail", Text, nullable=True),
    Column("message_id", String(40), nullable=True),  # the outbound message that bounced or was complained about
    Column("created_by", String(320), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("mailbox_id", "address", name="uq_suppressions_mailbox_address"),
)

# The per-mailbox address book (services/contacts.py). `address_key` is the one form an address
# is compared in (services/suppressions.suppression_key), so one person is one row however the
# address is spelt; `email` is the address as it was given. `approved`: added (or re-added) by an
# approver or admin key; only approved contacts count for the mailbox's `contacts_only`.
contacts = Table(
    "contacts",
    metadata,
    _seq(),
    Column("id", String(40), nullable=False, unique=True),
    Column("mailbox_id", String(40), ForeignKey("mailboxes.id"), nullable=False),
    Column("address_key", String(320), nullable=False),
    Column("email", String(320), nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("tags", JSON, nullable=False),
    Column("search_text", Text, nullable=False),  # name, email and key case-folded: substring search on both databases
    Column("approved", Boolean, nullable=False, default=False),
    Column("approved_by", String(320), nullable=True),
    Column("created_by", String(320), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("mailbox_id", "address_key", name="uq_contacts_mailbox_address_key"),
)

# Raw RFC 5322 bytes of inbound mail, content-addressed: stored once however many hosted
# mailboxes received them (a DMARC-passing message to 50 mailboxes is one blob).
raw_blobs = Table(
    "raw_blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("raw", LargeBinary, nullable=True),  # NULL: the bytes are in the blob store (store/blobs.py)
    Column("size", BigInteger, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# What capture mode would have sent: the exact bytes and envelope, for development and tests.
captured_mail = Table(
    "captured_mail",
    metadata,
    _seq(),
    Column("message_id", String(40), nullable=False, index=True),
    Column("mail_from", Text, nullable=False),
    Column("rcpt_tos", JSON, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("captured_at", UTCDateTime, nullable=False),
)

idempotency = Table(
    "idempotency",
    metadata,
    Column("api_key_id", String(40), primary_key=True),
    Column("slot", String(400), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("message_id", String(40), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)

audit_events = Table(
    "audit_events",
    metadata,
    _seq(),
    Column("id", String(40), nullable=False, unique=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("actor_key_id", String(320), nullable=True),  # a key id, "system", or an approver's address
    Column("actor_role", String(20), nullable=True),
    Column("mailbox_id", String(40), nullable=True, index=True),
    Column("mailbox_address", String(320), nullable=True),
    Column("action", String(60), nullable=False, index=True),
    Column("message_id", String(40), nullable=True, index=True),
    Column("oversight_mode", String(20), nullable=True),
    Column("approval_status", String(20), nullable=True),
    Column("details", JSON, nullable=False, default=dict),
    # The hash chain (core/audit_chain.py): the previous event's hash and this event's own.
    Column("prev_hash", String(64), nullable=True),
    Column("hash", String(64), nullable=True),
)

# The chain's head: the last event's hash and the number of events, updated with every append,
# so removing events from the end of the chain is detected too.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("count", BigInteger, nullable=False),
)

# Every state change as an event, written in the same transaction as the change; the webhook
# worker delivers them (issue "Webhooks that never lose an event").
events = Table(
    "events",
    metadata,
    _seq(),
    Column("id", String(40), nullable=False, unique=True),
    Column("type", String(60), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("mailbox_id", String(40), nullable=True, index=True),
    Column("message_id", String(40), nullable=True),
    Column("data", JSON, nullable=False),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret", String(100), nullable=False),
    Column("events", JSON, nullable=True),  # NULL = every event type
    Column("mailbox_id", String(40), nullable=True, index=True),  # NULL = every mailbox in scope
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_by", String(40), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("description", Text, nullable=False, default="", server_default=""),
    # After a rotation the old secret also signs for a day, so receivers can switch over.
    Column("previous_secret", String(100), nullable=True),
    Column("secret_rotated_at", UTCDateTime, nullable=True),
    Column("consecutive_failures", Integer, nullable=False, default=0, server_default="0"),
    Column("disabled_at", UTCDateTime, nullable=True),
    Column("disabled_reason", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=True),
    # http: a signed POST to `url`. prefect_deployment: create a flow run of a deployment on the
    # server's configured Prefect API (`target`: {"deployment", "parameter"}). prefect_events:
    # emit the event into Prefect's event stream. The Prefect kinds never take a URL from a client.
    Column("kind", String(30), nullable=False, default="http", server_default="http"),
    Column("target", JSON, nullable=True),
)

# One row per (event, subscription), created in the same transaction as the event; the webhook
# worker claims due rows with a lease, like the outbox. `payload` is the exact body sent, so every
# retry carries the same bytes and the same `webhook-id`.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    _seq(),
    Column("id", String(40), nullable=False, unique=True),
    Column("webhook_id", String(40), nullable=False, index=True),
    Column("event_id", String(40), nullable=False),
    Column("event_type", String(60), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(20), nullable=False),  # pending | succeeded | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    _seq(),
    Column("delivery_id", String(40), nullable=False, index=True),
    Column("attempted_at", UTCDateTime, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("response_body", Text, nullable=True),
    Column("duration_ms", Integer, nullable=False),
)


# A Prefect flow run paused until a held message is decided (kind approval) or a decide_email
# question is answered (kind decision). The row is its own outbox: the transaction that records
# the outcome marks it `due`, and the resume worker calls the configured Prefect API's
# `POST /flow_runs/{id}/resume` with the outcome as run input, with leases and retries, so an
# approval is never lost across a crash.
flow_run_waits = Table(
    "flow_run_waits",
    metadata,
    _seq(),
    Column("id", String(40), nullable=False, unique=True),
    Column("flow_run_id", String(36), nullable=False),
    Column("kind", String(20), nullable=False),  # approval | decision
    Column("target_id", String(40), nullable=False),  # the message (approval) or the thread (decision)
    Column("mailbox_id", String(40), nullable=False, index=True),
    Column("created_by", String(40), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("status", String(20), nullable=False),  # waiting | due | resumed | answered | failed
    Column("outcome", JSON, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    UniqueConstraint("flow_run_id", "kind", "target_id", name="uq_flow_run_waits_target"),
    Index("ix_flow_run_waits_target", "target_id", "status"),
    Index("ix_flow_run_waits_status_next", "status", "next_attempt_at"),
)
