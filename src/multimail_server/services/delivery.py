"""The delivery worker: drains the outbox into local mailboxes and the configured transport.

Rows are claimed with a lease, so a crash mid-delivery loses nothing: the lease expires and the
row is taken again (every claim increments `attempts`).

Transactional transports (capture) and mail for hosted mailboxes only: everything a delivery
changes (captured bytes, the recipient mailbox's copy, the sender's status, events, audit) is one
transaction, so it happens exactly once.

A non-transactional transport (the SMTP relay) cannot be part of a transaction, so a hand-over
is recorded in three steps, in `outbox.handoff_result` (JSON; `handoff_started_at` is when the
latest one started):

1. *started* — one transaction locks the message, stores the composed bytes on it (so every
   attempt sends the same bytes, Message-ID and signature), delivers to hosted recipients (once:
   `local_delivered`), and records `phase: started` for this attempt.
2. *data* — outside any transaction the relay is given MAIL and RCPT; once it has accepted
   recipients, and before the DATA command, a small transaction records `phase: data` — only
   if the row is still this attempt's (compare-and-set on `attempts`). If another worker has
   claimed the row since, the session is abandoned without DATA.
3. *result* — a second transaction records the relay's answer per recipient (`accepted`,
   `refused`, `deferred`), the message's status, the `message.sent` / `message.failed` event and
   the audit event; or schedules a retry.

Restart in between (the row is claimed again once its lease expired and finds a hand-over of an
earlier attempt without a result):
- `phase: started`: the relay was never sent DATA, and an SMTP relay accepts a message only by
  answering 250 to the end of its DATA, so nothing can have been accepted: the hand-over is
  repeated (audited as `message.handoff_interrupted`).
- `phase: data`: the relay may have answered 250 before the crash. The worker never repeats it:
  those recipients are recorded as `uncertain` (audit `message.delivery_uncertain`, a
  `message.failed` event with `uncertain: true`, and a failure_reason saying the message may have
  been delivered), for a human to check. The same applies when the connection drops after the
  content was sent (`UncertainDelivery`).
Hence a message goes to the relay at most once per attempt (one session per attempt, DATA at most
once in it), and never twice after a 250: a 250 can only follow a committed `phase: data` record
of that attempt, and a row with such a record is never handed over again; recipients accepted in
an earlier attempt are never sent to again either.

Temporary failures (4xx, connection errors, timeouts, any unexpected exception in a row) are
retried after `settings.delivery_retry_schedule` (RETRY_SCHEDULE_SECONDS by default); once that is
used up, or on a permanent failure (5xx), the message fails with the server's answer and a
`message.failed` event. A message some recipients got (hosted mailboxes, or recipients the relay
accepted) ends `sent`, with the recipients that failed named in `failure_reason`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ..core.addresses import normalized_or_none
from ..core.decision_text import links_section
from ..delivery.signing import ensure_identity_key, finalize_outbound
from ..delivery.transports import (
    PermanentFailure,
    SmtpRelayTransport,
    TemporaryFailure,
    UncertainDelivery,
    make_transport,
)
from ..mail.compose import compose_stored as compose
from ..mail.decision_html import question_html
from ..store import idempotency as idem_q
from ..store import mailboxes as mailbox_q
from ..store import messages as message_q
from ..store import outbox as outbox_q
from ..store import records, wakes
from . import approval_notices, bounces, decision_links, scheduling
from .approvals import approved_content_matches
from .common import all_recipients, record
from .context import Context
from .metrics import metrics_for
from .outbound_pause import quiet_mailbox_ids
from .receiving import deliver_locally, keep_raw
from .workers import PollingWorker, run_concurrently

log = logging.getLogger("multimail_server.delivery")

RETRY_SCHEDULE_SECONDS = (5, 30, 120, 600, 1800, 3600, 7200, 14400)
PURGE_EVERY_SECONDS = 300  # expired idempotency slots are removed when the worker is idle
# Relay sessions side by side (services/workers.py run_concurrently): a relay session is mostly
# waiting for the relay's answers, and one at a time the worker idled through each.
CONCURRENCY = 4
# Rows claimed per pass, composed in one read transaction, and prepared ROWS_PER_TRANSACTION to
# a write transaction (DeliveryWorker._prepare_batch): more per transaction would hold SQLite's
# one write lock long enough to show in the API's latency.
BATCH = 32
ROWS_PER_TRANSACTION = 8


class Copies:
    """The bytes of one outbound message, per kind of recipient.

    Most messages are one copy for everyone. A decide_email question is two: the copy handed to
    external recipients (the relay, or capture) carries the one-click links and, in Reply-To, the
    question's private reply address; the copy stored in hosted mailboxes carries neither, since
    an API key reads those mailboxes and either secret would let an agent answer its own question.
    The external copy is the one kept on the message (the hand-over record: every retry sends
    the same bytes)."""

    def __init__(self, ctx: Context, tx, msg: dict[str, Any], mailbox: dict[str, Any], now, keys: dict | None = None):
        self.ctx, self.tx, self.msg, self.mailbox, self.now = ctx, tx, msg, mailbox, now
        self.keys = {} if keys is None else keys  # signing keys read in this transaction (finalize_outbound)
        self._attachments: list[dict[str, Any]] | None = None
        self._hosted: bytes | None = None
        self._external: bytes | None = None  # composed before the write transaction (DeliveryWorker._precompose)

    @property
    def is_question(self) -> bool:
        return self.msg["kind"] == "decision" and bool(self.msg["options"])

    def _atts(self) -> list[dict[str, Any]]:
        if self._attachments is None:
            self._attachments = message_q.attachments_of(self.tx, self.msg["id"], with_content=True)
        return self._attachments

    def _finalize(self, raw: bytes) -> bytes:
        return finalize_outbound(self.tx, raw=raw, message=self.msg, mailbox=self.mailbox, now=self.now,
                                 issuer=self.ctx.settings.base_url(), keys=self.keys)

    def external(self) -> bytes:
        kept = self.msg["raw"] if self.msg["raw"] is not None else (
            message_q.raw_of(self.tx, self.msg) if self.msg["raw_sha256"] else None)  # in the blob store
        if kept is not None:
            return kept
        if self._external is not None:
            return self._external
        if not approved_content_matches(self.msg, self._atts()):
            # Only a held message can be edited, so this means the row changed behind the
            # service layer's back: what goes out must be what a human approved, or nothing.
            raise PermanentFailure("the message's content differs from the version that was approved "
                                   f"({self.msg['approved_content_hash']}); it was not sent")
        if self.msg["kind"] == approval_notices.KIND:
            # An approver's notice: the link and the private reply address only in this copy.
            text, reply_to = approval_notices.external_copy_parts(self.tx, self.msg, self.mailbox, self.ctx.settings.base_url())
            return self._finalize(compose(self.msg, self._atts(), text=text, reply_to=reply_to))
        if not self.is_question:
            return self._finalize(compose(self.msg, self._atts()))
        key = decision_links.secret_in(self.tx)
        assert key is not None  # decide_email creates it before the question exists
        options = self.msg["options"]
        urls = decision_links.link_urls(self.tx, key=key, question=self.msg, base_url=self.ctx.settings.base_url())
        text = self.msg["body_text"] + links_section(options, urls)
        reply_to = [decision_links.reply_address(key, self.msg["id"], self.mailbox["address"])]
        return self._finalize(compose(self.msg, self._atts(), text=text, html=question_html(self.msg["body_text"], options, urls),
                                      reply_to=reply_to))

    def hosted(self) -> bytes:
        if self.msg["kind"] == approval_notices.KIND:
            if self._hosted is None:  # a hosted approver is read by an API key: no link, no reply address
                self._hosted = self._finalize(compose(self.msg, self._atts(), text=approval_notices.hosted_copy_text(self.msg)))
            return self._hosted
        if not self.is_question:
            return self.external()
        if self._hosted is None:
            text = self.msg["body_text"] + links_section(self.msg["options"], None)
            self._hosted = self._finalize(compose(self.msg, self._atts(), text=text))
        return self._hosted


@dataclass
class _TxCache:
    """What one batch transaction reads once for all its rows: sender mailboxes by id, signing
    keys, and the rows' messages (locked before anything is written)."""

    boxes: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[Any, Any] = field(default_factory=dict)
    messages: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # read and locked first
    outbox_rows: dict[int, dict[str, Any]] = field(default_factory=dict)  # the claimed rows as they are now, locked
    hosted: dict[str, dict[str, Any]] | None = None  # the hosted mailboxes among all the batch's recipients


class LeaseLost(Exception):
    """Another worker claimed the row (our lease ran out): leave it to that worker."""


def _recipients(msg: dict[str, Any] | None) -> list[str]:
    """A message's recipients, normalized, each once, in order (To, Cc, Bcc)."""
    recipients: list[str] = []
    if msg is None:
        return recipients
    for a in all_recipients(msg):
        spec = normalized_or_none(a)
        if spec and spec not in recipients:
            recipients.append(spec)
    return recipients


def _progress(row: dict[str, Any]) -> dict[str, Any]:
    p: dict[str, Any] = {}
    if row.get("handoff_result"):
        try:
            p = json.loads(row["handoff_result"])
        except ValueError:
            p = {"legacy_result": row["handoff_result"]}
    for key in ("accepted", "refused", "deferred", "uncertain"):
        p.setdefault(key, {})
    p.setdefault("attempt", 0)
    p.setdefault("phase", None)
    p.setdefault("in_flight", [])
    p.setdefault("local_delivered", False)
    p.setdefault("local", [])
    return p


class DeliveryWorker(PollingWorker):
    name = "delivery"
    wake_topics = frozenset({wakes.OUTBOX})

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        transport = make_transport(ctx.settings)
        if isinstance(transport, SmtpRelayTransport):
            log.info("outbound mail goes through %s", transport.config.redacted())
        # capture (transactional: `deliver` in the transaction) or the relay (`send`, outside it)
        self.transport: Any = transport
        self._last_purge = 0.0
        self._verp_key: bytes | None = None  # signs each message's envelope sender (services/bounces.py)
        self._identity_key_ready = False

    @property
    def retry_schedule(self) -> list[float]:
        return list(getattr(self.ctx.settings, "delivery_retry_schedule", None) or RETRY_SCHEDULE_SECONDS)

    @property
    def poll_seconds(self) -> float:
        return self.ctx.settings.delivery_poll_seconds

    def wait_seconds(self) -> float:
        """Until the next row falls due (a scheduled message's send_at, a retry), at most the
        poll interval: a message scheduled for 09:00 leaves at 09:00 whatever the interval."""
        return self.sleep_until(outbox_q.next_due_at)

    def idle(self) -> None:
        if time.monotonic() - self._last_purge > PURGE_EVERY_SECONDS:
            self._last_purge = time.monotonic()
            with self.ctx.store.write(notify=False) as tx:
                idem_q.purge_expired(tx, self.ctx.now())

    def run_once(self, limit: int = BATCH) -> int:
        """Deliver what is due now; returns how many rows were worked on."""
        now = self.ctx.now()
        with self.ctx.store.read() as tx:  # most wake-ups are other work's commits: no write lock for those
            if not outbox_q.any_due(tx, now):
                return 0
        with self.ctx.store.write(notify=False) as tx:
            rows = outbox_q.claim_due(tx, now, lease_seconds=self.ctx.settings.delivery_lease_seconds, limit=limit,
                                      quiet_mailbox_ids=quiet_mailbox_ids(tx, now))
        if not rows:
            return 0
        if self._verp_key is None:  # once, before the rows run side by side
            self._verp_key = decision_links.secret(self.ctx)
        lost: set[int] = set()
        pre = self._precompose(rows)
        plans = []
        for i in range(0, len(rows), ROWS_PER_TRANSACTION):
            plans += self._prepare_batch(rows[i:i + ROWS_PER_TRANSACTION], lost, pre)
        if plans:  # the relay: sessions side by side, each carrying its share of the rows in turn
            sessions = [plans[i::CONCURRENCY] for i in range(min(CONCURRENCY, len(plans)))]
            run_concurrently(sessions, lambda share: self._relay_session(share, lost), CONCURRENCY, name="multimail-delivery")
        self._attempts_done(rows, lost)
        return len(rows)

    def _prepare_batch(self, rows: list[dict[str, Any]], lost: set[int],
                       pre: dict[int, tuple[dict[str, Any], dict[str, Any], bytes]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Step 1 for these claimed rows in ONE write transaction, a savepoint each: the whole
        delivery for capture and hosted mailboxes, the `started` record for the relay (returned
        as plans, for `_relay_session`). One transaction for the batch instead of one per row:
        each commit was a write-lock hand-over (SQLite), a round trip and a NOTIFY (PostgreSQL)
        and woke every worker of the process. Each row keeps its own lease check and
        compare-and-set (`_prepare_in`), so exactly once holds with several workers as before;
        a row that raises is rolled back to its savepoint alone and concluded after the commit
        (retry or failure, as one row on its own was). If the transaction itself fails, nothing
        of it happened: each row is then prepared again in a transaction of its own."""
        ctx = self.ctx
        done: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        failures: list[tuple[dict[str, Any], Exception]] = []
        try:
            with ctx.store.write() as tx, records.subscriptions_read_once(tx):
                cache = self._read_batch(tx, rows)
                for row in rows:
                    savepoint = tx.begin_nested()
                    try:
                        plan = self._prepare_in(tx, row, pre.get(row["seq"]), cache)
                    except Exception as exc:
                        savepoint.rollback()
                        failures.append((row, exc))
                    else:
                        savepoint.commit()
                        done.append((row, plan))
        except Exception as batch_error:
            if len(rows) == 1:  # nothing of it committed: the row is concluded like one that raised
                failures, done = [(rows[0], batch_error)], []
            else:
                log.exception("a batch of %d deliveries failed; each is tried on its own", len(rows))
                plans = []
                for row in rows:
                    plans += self._prepare_batch([row], lost, pre)
                return plans
        for row, error in failures:
            self._conclude_failure(row, error, lost)
        return [(row, plan) for row, plan in done if plan is not None]

    @staticmethod
    def _read_batch(tx, rows: list[dict[str, Any]]) -> _TxCache:
        """What every row of a batch reads, in three statements for the batch instead of three a
        row: the messages and their outbox rows, locked (PostgreSQL), and which of all their
        recipients are hosted mailboxes. Every message is locked first, before any row writes its
        audit event: an API transaction locks a message, then the audit chain; this one, taking
        the chain's lock at its first row, must not then wait for a later row's message (each in
        the opposite order: a deadlock)."""
        cache = _TxCache()
        found = message_q.by_ids(tx, [row["message_id"] for row in rows], lock=True)
        cache.messages = {row["message_id"]: found.get(row["message_id"]) for row in rows}
        cache.outbox_rows = outbox_q.by_seqs(tx, [row["seq"] for row in rows], lock=True)
        cache.hosted = mailbox_q.addresses_in(tx, sorted({a for m in found.values() for a in _recipients(m)}))
        return cache

    def _conclude_failure(self, row: dict[str, Any], exc: BaseException, lost: set[int]) -> None:
        """What a row's exception means; nothing that goes wrong in one row stops the others.
        An unexpected error is retried on the schedule like a temporary failure, so a row never
        stays stuck."""
        if isinstance(exc, LeaseLost):
            lost.add(row["seq"])
            log.warning("outbox row %s was taken over by another worker", row["seq"])
        elif isinstance(exc, TemporaryFailure):
            self._safely(self._retry, row, str(exc))
        elif isinstance(exc, PermanentFailure):
            self._safely(self._fail, row, str(exc))
        else:
            log.error("delivering message %s failed unexpectedly", row["message_id"], exc_info=exc)
            self._safely(self._retry, row, f"internal error: {type(exc).__name__}: {exc}")

    _OUTCOMES = {"ready": "deferred", "done": "sent", "failed": "failed", "cancelled": "cancelled"}

    def _attempts_done(self, rows: list[dict[str, Any]], lost: set[int]) -> None:
        """One log line and one count per delivery attempt, its outcome read back from the row
        (whichever of the paths above concluded it; one read for the batch); never fails the
        worker's pass."""
        try:
            with self.ctx.store.read() as tx:
                current = outbox_q.by_seqs(tx, [row["seq"] for row in rows])
            attempts = metrics_for(self.ctx).delivery_attempts
            for row in rows:
                now = current.get(row["seq"], {})
                outcome = "taken_over" if row["seq"] in lost else self._OUTCOMES.get(str(now.get("state")), "unknown")
                attempts.labels(outcome=outcome).inc()
                fields = {"message_id": row["message_id"], "attempt": row["attempts"], "outcome": outcome,
                          "error": now.get("last_error") if outcome in ("deferred", "failed") else None}
                log.info("delivery attempt %d of %s: %s%s", row["attempts"], row["message_id"], outcome,
                         f" ({fields['error']})" if fields["error"] else "", extra=fields)
        except Exception:
            log.exception("logging the delivery attempts of %d rows failed", len(rows))

    def _safely(self, fn, row: dict[str, Any], error: str) -> None:
        try:
            fn(row, error)
        except Exception:  # the lease expires and the row is claimed again (attempts counts on)
            log.exception("recording the outcome for message %s failed", row["message_id"])

    def _mail_from(self, msg: dict[str, Any], mailbox: dict[str, Any]) -> str:
        """The message's own VERP envelope sender, so its bounces find it (services/bounces.py)."""
        assert self._verp_key is not None
        return bounces.envelope_sender(self._verp_key, msg["id"], mailbox["address"])

    # -- step 1: one transaction; the whole delivery for transactional transports -------------

    def _precompose(self, rows: list[dict[str, Any]]) -> dict[int, tuple[dict[str, Any], dict[str, Any], bytes]]:
        """The common messages (one copy for everyone, not yet composed), composed and signed in
        one read transaction for the batch: composing and signing are most of a delivery's CPU,
        and inside the write transaction every sender, receiver and worker of the process queued
        behind them. The write transaction uses these bytes only if it reads the message and its
        mailbox exactly as they were here (a queued message's content and attachments no longer
        change), so what goes out is what it would have composed itself. A row left out is
        composed inside, as before."""
        ctx = self.ctx
        if not self._identity_key_ready:  # signing reads it; creating it is a write of its own
            with ctx.store.write(notify=False) as tx:
                ensure_identity_key(tx, ctx.now())
            self._identity_key_ready = True
        composed: dict[int, tuple[dict[str, Any], dict[str, Any], bytes]] = {}
        with ctx.store.read() as tx:
            boxes: dict[str, dict[str, Any] | None] = {}
            keys: dict[Any, Any] = {}
            todo = []
            found = message_q.by_ids(tx, [row["message_id"] for row in rows])
            for row in rows:
                msg = found.get(row["message_id"])
                if (msg is None or msg["status"] != "queued" or msg["raw"] is not None or msg["kind"] == approval_notices.KIND
                        or (msg["kind"] == "decision" and msg["options"])):
                    continue
                todo.append((row, msg))
            # Which have attachments at all, in one query: most have none, and asking each for
            # its attachments (and whether they were purged) was two queries a message.
            listed = message_q.attachments_of_many(tx, [msg["id"] for _, msg in todo])
            for row, msg in todo:
                if msg["mailbox_id"] not in boxes:
                    boxes[msg["mailbox_id"]] = mailbox_q.by_id(tx, msg["mailbox_id"])
                mailbox = boxes[msg["mailbox_id"]]
                if mailbox is None:
                    continue
                copies = Copies(ctx, tx, msg, mailbox, ctx.now(), keys)
                if not listed[msg["id"]]:
                    copies._attachments = []
                try:
                    raw = copies.external()
                except PermanentFailure:  # the write transaction finds the same and fails the row
                    continue
                except Exception:  # the same again inside, where it concludes the row
                    log.debug("precomposing %s failed", msg["id"], exc_info=True)
                    continue
                composed[row["seq"]] = (msg, mailbox, raw)
        return composed

    def _prepare_in(self, tx, row: dict[str, Any], pre, cache: _TxCache) -> dict[str, Any] | None:
        """One row's step 1 in the batch's transaction: a hand-over plan for the relay, or None
        when the row is finished."""
        ctx = self.ctx
        now = ctx.now()
        # Locked (PostgreSQL) so a worker whose lease ran out and the one that took the row
        # over never both hand the message on: the second waits, then sees it sent.
        # Taken out of the cache: a second row of the same message reads what the first left.
        msg = cache.messages.pop(row["message_id"]) if row["message_id"] in cache.messages else (
            message_q.by_id(tx, row["message_id"], lock=True))
        if msg is not None and msg["status"] == "scheduled":  # its send_at has come
            msg = scheduling.fall_due(tx, ctx, msg=msg, seq=row["seq"], now=now)
            if msg is None:  # held for approval now (schedule_first): the row is gone
                return None
        if msg is None or msg["status"] != "queued":
            state = "done" if msg is not None and msg["status"] == "sent" else "cancelled"
            outbox_q.finish(tx, row["seq"], state=state, now=now)
            return None
        mailbox = cache.boxes.get(msg["mailbox_id"]) or mailbox_q.by_id(tx, msg["mailbox_id"])
        assert mailbox is not None  # a message's mailbox is deleted only with its messages
        cache.boxes[msg["mailbox_id"]] = mailbox  # the batch's other messages from it (same transaction)
        # The row as the batch read it (locked), unless an earlier row of the batch changed it.
        current = cache.outbox_rows.pop(row["seq"], None) or outbox_q.by_seq(tx, row["seq"], lock=True) or row
        if current["attempts"] != row["attempts"] or current["state"] != "ready":
            raise LeaseLost()
        progress = _progress(current)
        if progress["phase"] == "data" and progress["attempt"] != row["attempts"]:
            # An earlier attempt may have been accepted (see the module docstring): never resend.
            error = ("uncertain: the worker stopped after handing the message to the relay and before its answer "
                     "was recorded; it may have been delivered and is not resent automatically to avoid a duplicate")
            progress["uncertain"].update({r: error for r in progress["in_flight"]})
            progress["in_flight"], progress["phase"] = [], "uncertain"
            self._conclude(tx, row, msg, mailbox, progress, now, error=error, uncertain=True)
            return None
        if progress["phase"] == "started" and progress["attempt"] != row["attempts"]:
            record(tx, at=now, principal=None, action="message.handoff_interrupted", mailbox=mailbox, message=msg,
                   details={"attempt": progress["attempt"], "recipients": progress["in_flight"], "uncertain": False,
                            "why_safe": "the relay was never sent DATA, so it cannot have accepted the message"})
        copies = Copies(ctx, tx, msg, mailbox, now, cache.keys)
        if pre is not None and pre[0] == msg and pre[1] == mailbox:
            copies._external = pre[2]
        raw = copies.external()
        recipients = _recipients(msg)
        if cache.hosted is not None:  # read for the whole batch (no row creates or removes a mailbox)
            local = {r: cache.hosted[r] for r in recipients if r in cache.hosted}
        else:
            local = mailbox_q.addresses_in(tx, recipients)
        remote = [r for r in recipients if r not in local]
        if remote and not getattr(self.transport, "transactional", True):
            return self._start_handoff(tx, row, msg, mailbox, progress, copies, local, remote, now)
        hosted = keep_raw(tx, copies.hosted(), now) if local else None  # one blob for every hosted copy
        for address in recipients:
            if address in local:
                deliver_locally(tx, mailbox=local[address], raw=copies.hosted(), sender=mailbox, now=now, raw_sha256=hosted)
        result = None
        if remote:
            result = self.transport.deliver(tx, message_id=msg["id"], mail_from=self._mail_from(msg, mailbox), rcpt_tos=remote, raw=raw, now=now)
        if not message_q.update_message(tx, msg["id"], {"status": "sent", "sent_at": now, "raw": raw}, where={"status": "queued"}):
            raise RuntimeError(f"message {msg['id']} changed state during delivery")  # rolls back the whole delivery
        outbox_q.finish(tx, row["seq"], state="done", now=now)
        msg = {**msg, "status": "sent", "sent_at": now}
        data = {"message_id": msg["id"], "thread_id": msg["thread_id"], "status": "sent",
                "oversight_mode": msg["oversight_mode"], "local_recipients": sorted(local), "remote_recipients": remote}
        record(tx, at=now, principal=None, action="message.sent", mailbox=mailbox, message=msg,
               details={"transport": self.transport.name if remote else "local", "result": result,
                        "approved_content_hash": msg.get("approved_content_hash"), **data},
               event="message.sent", event_data=data)
        if msg["oversight_mode"] == "monitored":
            record(tx, at=now, principal=None, action="message.review_requested", mailbox=mailbox, message=msg,
                   event="message.review_requested", event_data=data)
        return None

    def _start_handoff(self, tx, row, msg, mailbox, progress, copies: Copies, local, remote, now) -> dict[str, Any] | None:
        """Step 1 for the relay: keep the bytes, deliver locally once, record `phase: started`."""
        raw = copies.external()
        if msg["raw"] is None and not msg["raw_sha256"]:
            message_q.update_message(tx, msg["id"], {"raw": raw})
        if not progress["local_delivered"]:
            hosted = keep_raw(tx, copies.hosted(), now) if local else None
            for box in local.values():
                deliver_locally(tx, mailbox=box, raw=copies.hosted(), sender=mailbox, now=now, raw_sha256=hosted)
            progress["local_delivered"], progress["local"] = True, sorted(local)
        done = set(progress["accepted"]) | set(progress["refused"]) | set(progress["uncertain"])
        rcpts = [r for r in remote if r not in done]
        if not rcpts:  # nothing left to hand over (e.g. a result recorded, then a crash before finishing)
            progress["phase"] = "done"
            self._conclude(tx, row, msg, mailbox, progress, now, error=None)
            return None
        progress.update(attempt=row["attempts"], phase="started", in_flight=rcpts, deferred={})
        if not outbox_q.record_handoff(tx, row["seq"], attempt=row["attempts"], progress=json.dumps(progress), now=now, started=True):
            raise LeaseLost()
        return {"raw": raw, "mail_from": self._mail_from(msg, mailbox), "rcpts": rcpts, "progress": progress, "mailbox": mailbox}

    # -- step 2: the relay, outside any transaction ----------------------------------------

    def _relay_session(self, share: list[tuple[dict[str, Any], dict[str, Any]]], lost: set[int]) -> None:
        """The hand-overs of `share`, one after another over one connection to the relay.

        Each message's `phase: data` record commits before its DATA, as for one message alone;
        the result of the message before it is recorded in that same transaction (it is known
        by then: its DATA was answered), so a message costs one write transaction here, not two.
        A result not followed by another message's DATA (the last of the share, or when the next
        message never reaches DATA) is recorded on its own at once, so no result waits longer
        than the next message's MAIL and RCPT."""
        carried: list[tuple[dict[str, Any], dict[str, Any], str, str | None, Any]] = []
        with self.transport.session() as relay:
            for row, plan in share:
                reached_data: list[bool] = []
                try:
                    carried.append(self._hand_over(relay, row, plan, carried, reached_data))
                except LeaseLost:
                    lost.add(row["seq"])
                    log.warning("outbox row %s was taken over by another worker", row["seq"])
                except Exception as exc:  # _hand_over lets nothing else out; a bug if it does
                    self._conclude_failure(row, exc, lost)
                if not reached_data and carried:
                    self._record_results(carried)
            if carried:
                self._record_results(carried)

    def _hand_over(self, relay, row: dict[str, Any], plan: dict[str, Any], carried: list, reached_data: list[bool]):
        """One message over the session; returns its result, to be recorded (`carried`)."""
        progress = plan["progress"]

        def before_data(accepted: list[str]) -> None:
            checkpoint = {**progress, "phase": "data", "in_flight": accepted}
            with self.ctx.store.write() as tx:
                failed = self._record_results_in(tx, carried)
                ours = outbox_q.record_handoff(tx, row["seq"], attempt=row["attempts"], progress=json.dumps(checkpoint), now=self.ctx.now())
            carried.clear()
            self._results_failed(failed)
            reached_data.append(True)
            if not ours:
                raise LeaseLost()
            progress.update(phase="data", in_flight=accepted)  # committed: from here on a 250 may come

        kind, error, outcome = "ok", None, None
        try:
            outcome = relay.send(mail_from=plan["mail_from"], rcpt_tos=plan["rcpts"], raw=plan["raw"], before_data=before_data)
        except LeaseLost:
            raise
        except TemporaryFailure as exc:
            kind, error = "temporary", str(exc)
        except PermanentFailure as exc:
            kind, error = "permanent", str(exc)
        except UncertainDelivery as exc:
            kind, error = "uncertain", f"uncertain: {exc}; it may have been delivered and is not resent automatically to avoid a duplicate"
        except Exception as exc:  # a bug or an unexpected library error before DATA was sent
            if progress["phase"] == "data":
                kind, error = "uncertain", f"uncertain: {type(exc).__name__}: {exc}"
            else:
                log.exception("relay hand-over of %s failed unexpectedly", row["message_id"])
                kind, error = "temporary", f"internal error: {type(exc).__name__}: {exc}"
        return row, plan, kind, error, outcome

    # -- step 3: the results, in one transaction --------------------------------------------

    def _record_results(self, carried: list) -> None:
        """The results in `carried` in one transaction of their own."""
        try:
            with self.ctx.store.write() as tx:
                failed = self._record_results_in(tx, carried)
        except Exception as exc:  # nothing of it committed: each row is retried (resolved from its record)
            failed = [(item[0], exc) for item in carried]
        carried.clear()
        self._results_failed(failed)

    def _record_results_in(self, tx, carried: list) -> list[tuple[dict[str, Any], Exception]]:
        """Each result in a savepoint of `tx`; returns the rows whose result could not be recorded."""
        failed = []
        if len(carried) > 1:  # messages locked before any audit event (see _read_batch)
            message_q.by_ids(tx, [row["message_id"] for row, *_ in carried], lock=True)
        for row, plan, kind, error, outcome in carried:
            savepoint = tx.begin_nested()
            try:
                self._record_result(tx, row, plan, kind, error, outcome)
            except Exception as exc:
                savepoint.rollback()
                failed.append((row, exc))
            else:
                savepoint.commit()
        return failed

    def _results_failed(self, failed: list[tuple[dict[str, Any], Exception]]) -> None:
        """A result that could not be recorded: the row is retried later, and the retry resolves
        it from the hand-over record (`phase: data`: never handed over again)."""
        for row, exc in failed:
            log.error("recording the relay result of %s failed", row["message_id"], exc_info=exc)
            self._safely(self._retry, row, f"internal error: {type(exc).__name__}: {exc}")

    def _record_result(self, tx, row, plan, kind: str, error: str | None, outcome) -> None:
        ctx = self.ctx
        now = ctx.now()
        msg = message_q.by_id(tx, row["message_id"], lock=True)
        current = outbox_q.by_seq(tx, row["seq"], lock=True)
        progress = _progress(current) if current else {}
        if (msg is None or current is None or current["state"] != "ready" or progress.get("attempt") != row["attempts"]
                or progress.get("phase") not in ("started", "data")):
            # Someone else resolved this hand-over meanwhile (our lease ran out): keep the truth in the audit.
            log.warning("relay result for %s arrived after the hand-over was resolved elsewhere: %s", row["message_id"], kind)
            if msg is not None:
                record(tx, at=now, principal=None, action="message.handoff_late_result", message=msg,
                       details={"attempt": row["attempts"], "result": kind, "error": error,
                                "accepted": outcome.accepted if outcome else [], "reply": outcome.reply if outcome else None})
            return
        mailbox = plan["mailbox"]
        in_flight = plan["rcpts"] if progress["phase"] == "started" else progress["in_flight"]
        if kind == "ok":
            progress["accepted"].update({r: outcome.reply for r in outcome.accepted})
            progress["refused"].update(outcome.refused)
            progress["deferred"] = dict(outcome.deferred)
            if outcome.accepted:
                progress["last_reply"] = outcome.reply
        elif kind == "temporary":
            progress["deferred"] = {r: error for r in in_flight}
        elif kind == "permanent":
            progress["refused"].update({r: error for r in in_flight})
        else:
            progress["uncertain"].update({r: error for r in in_flight})
        progress["phase"], progress["in_flight"] = "done", []
        deferred = progress["deferred"]
        if deferred and row["attempts"] <= len(self.retry_schedule):
            outbox_q.set_handoff_result(tx, row["seq"], progress=json.dumps(progress), now=now)
            delay = self.retry_schedule[row["attempts"] - 1]
            reason = "; ".join(f"{r}: {a}" for r, a in deferred.items()) if kind == "ok" else error
            outbox_q.retry_later(tx, row["seq"], at=now + timedelta(seconds=delay), now=now, error=reason or "deferred")
            record(tx, at=now, principal=None, action="message.delivery_deferred", mailbox=mailbox, message=msg,
                   details={"attempt": row["attempts"], "retry_in_seconds": delay, "deferred": deferred,
                            "accepted": sorted(progress["accepted"])})
            return
        if deferred:
            progress["refused"].update({r: f"gave up after {row['attempts']} attempts: {a}" for r, a in deferred.items()})
            progress["deferred"] = {}
        self._conclude(tx, row, msg, mailbox, progress, now, error=error, uncertain=kind == "uncertain")

    def _conclude(self, tx, row, msg, mailbox, progress, now, *, error: str | None, uncertain: bool = False) -> None:
        """The message's final state: `sent` when anyone got it, else `failed`; event and audit."""
        accepted = sorted(progress["accepted"])
        failed = {**progress["refused"], **progress["uncertain"]}
        reason = "; ".join(f"{r}: {a}" for r, a in failed.items()) or error
        got_it = bool(accepted or progress["local"])
        record_json = json.dumps(progress)  # written with the row's final state (one UPDATE)
        base = {"message_id": msg["id"], "thread_id": msg["thread_id"], "oversight_mode": msg["oversight_mode"],
                "local_recipients": progress["local"], "remote_recipients": accepted}
        if got_it:
            values = {"status": "sent", "sent_at": now, "failure_reason": reason if failed else None}
            if not message_q.update_message(tx, msg["id"], values, where={"status": "queued"}):
                outbox_q.finish(tx, row["seq"], state="cancelled", now=now, progress=record_json)
                return
            outbox_q.finish(tx, row["seq"], state="done", now=now, error=reason if failed else None, progress=record_json)
            msg = {**msg, **values}
            data = {**base, "status": "sent", "failed_recipients": failed}
            record(tx, at=now, principal=None, action="message.sent", mailbox=mailbox, message=msg,
                   details={"transport": self.transport.name, "result": progress.get("last_reply"), "uncertain": uncertain,
                            "approved_content_hash": msg.get("approved_content_hash"), **data},
                   event="message.sent", event_data=data)
            if msg["oversight_mode"] == "monitored":
                record(tx, at=now, principal=None, action="message.review_requested", mailbox=mailbox, message=msg,
                       event="message.review_requested", event_data=data)
            return
        self._mark_failed(tx, row, msg, mailbox, reason or "delivery failed", now, uncertain=uncertain, failed=failed,
                          progress=record_json)

    def _mark_failed(self, tx, row, msg, mailbox, error: str, now, *, uncertain: bool = False, failed: dict | None = None,
                     progress: str | None = None) -> None:
        outbox_q.finish(tx, row["seq"], state="failed", now=now, error=error, progress=progress)
        if not message_q.update_message(tx, msg["id"], {"status": "failed", "failure_reason": error}, where={"status": "queued"}):
            return  # cancelled or otherwise finished meanwhile
        msg = {**msg, "status": "failed", "failure_reason": error}
        data = {"message_id": msg["id"], "thread_id": msg["thread_id"], "status": "failed", "error": error}
        if uncertain:
            data["uncertain"] = True
        if failed:
            data["failed_recipients"] = failed
        record(tx, at=now, principal=None, action="message.delivery_uncertain" if uncertain else "message.failed",
               mailbox=mailbox, message=msg, details={"error": error, "uncertain": uncertain, "failed_recipients": failed or {}},
               event="message.failed", event_data=data)

    # -- temporary and permanent failures outside a relay hand-over ---------------------------

    def _retry(self, row: dict[str, Any], error: str) -> None:
        now = self.ctx.now()
        attempt = row["attempts"]
        schedule = self.retry_schedule
        if attempt > len(schedule):
            self._fail(row, f"gave up after {attempt} attempts: {error}")
            return
        with self.ctx.store.write() as tx:
            outbox_q.retry_later(tx, row["seq"], at=now + timedelta(seconds=schedule[attempt - 1]), now=now, error=error)

    def _fail(self, row: dict[str, Any], error: str) -> None:
        now = self.ctx.now()
        with self.ctx.store.write() as tx:
            msg = message_q.by_id(tx, row["message_id"], lock=True)
            if msg is None:
                outbox_q.finish(tx, row["seq"], state="failed", now=now, error=error)
                return
            mailbox = mailbox_q.by_id(tx, msg["mailbox_id"])
            assert mailbox is not None  # a message's mailbox is deleted only with its messages
            current = outbox_q.by_seq(tx, row["seq"], lock=True)
            progress = _progress(current) if current else _progress({})
            if progress["phase"] == "data" and progress["in_flight"]:  # handed over, answer unknown
                progress["uncertain"].update({r: f"uncertain: {error}" for r in progress["in_flight"]})
                progress["in_flight"], progress["phase"] = [], "uncertain"
                self._conclude(tx, row, msg, mailbox, progress, now, error=f"uncertain: {error}", uncertain=True)
                return
            if progress["accepted"] or progress["local"]:  # some recipients already have it
                progress["refused"].update({r: error for r in list(progress["deferred"]) + list(progress["in_flight"])})
                progress["deferred"], progress["in_flight"], progress["phase"] = {}, [], "done"
                self._conclude(tx, row, msg, mailbox, progress, now, error=error)
                return
            self._mark_failed(tx, row, msg, mailbox, error, now)
