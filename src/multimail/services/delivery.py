"""The delivery worker: drains the outbox into local mailboxes and the configured transport.

Rows are claimed with a lease, so a crash mid-delivery loses nothing: the lease expires and the
row is taken again. For the capture transport and local delivery, everything a delivery changes
(captured bytes, the recipient mailbox's copy, the sender's status, events, audit) is one
transaction, so it happens exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from ..core.addresses import parse_address
from ..core.errors import BadRequest
from ..mail.compose import build_message
from ..mail.signing import finalize_outbound
from ..mail.transports import PermanentFailure, TemporaryFailure, make_transport
from ..store import idempotency as idem_q
from ..store import mailboxes as mailbox_q
from ..store import messages as message_q
from ..store import outbox as outbox_q
from .common import record
from .context import Context
from .receiving import store_inbound

log = logging.getLogger("multimail.delivery")

RETRY_SCHEDULE_SECONDS = (5, 30, 120, 600, 1800, 3600, 7200, 14400)
PURGE_EVERY_SECONDS = 300  # expired idempotency slots are removed when the worker is idle


def compose(msg: dict[str, Any], attachments: list[dict[str, Any]]) -> bytes:
    return build_message(
        from_addr=msg["from_addr"],
        to=msg["to_addrs"],
        cc=msg["cc_addrs"],
        reply_to=msg["reply_to"],
        subject=msg["subject"],
        text=msg["body_text"],
        html=msg["body_html"],
        message_id=msg["internet_message_id"],
        date=msg["decided_at"] or msg["created_at"],
        in_reply_to=msg["in_reply_to"],
        references=msg["references"],
        attachments=attachments,
        extra_headers={"X-MultiMail-Message-Id": msg["id"]},
    )


def _addr_spec(address: str) -> str | None:
    try:
        return parse_address(address, "to").normalized
    except BadRequest:
        return None


class DeliveryWorker:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.transport = make_transport(ctx.settings.outbound)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self.ctx.store.on_commit(self.wake)
        self._thread = threading.Thread(target=self._run, name="multimail-delivery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        last_purge = 0.0
        while not self._stop.is_set():
            self._wake.clear()  # before the pass: a wake during it makes the next wait return at once
            try:
                while self.run_once() and not self._stop.is_set():
                    pass
                if time.monotonic() - last_purge > PURGE_EVERY_SECONDS:
                    last_purge = time.monotonic()
                    with self.ctx.store.write() as tx:
                        idem_q.purge_expired(tx, self.ctx.now())
            except Exception:  # keep the worker alive; the row's lease lets it be retried
                log.exception("delivery pass failed")
            self._wake.wait(self.ctx.settings.delivery_poll_seconds)

    def run_once(self, limit: int = 20) -> int:
        """Deliver what is due now; returns how many rows were worked on."""
        now = self.ctx.now()
        with self.ctx.store.write() as tx:
            rows = outbox_q.claim_due(tx, now, lease_seconds=self.ctx.settings.delivery_lease_seconds, limit=limit)
        for row in rows:
            self._deliver(row)
        return len(rows)

    def _deliver(self, row: dict[str, Any]) -> None:
        ctx = self.ctx
        try:
            with ctx.store.write() as tx:
                now = ctx.now()
                # Locked (PostgreSQL) so a worker whose lease ran out and the one that took the row
                # over never both hand the message on: the second waits, then sees it sent.
                msg = message_q.by_id(tx, row["message_id"], lock=True)
                if msg is None or msg["status"] != "queued":
                    state = "done" if msg is not None and msg["status"] == "sent" else "cancelled"
                    outbox_q.finish(tx, row["seq"], state=state, now=now)
                    return
                mailbox = mailbox_q.by_id(tx, msg["mailbox_id"])
                raw = msg["raw"]
                if raw is None:
                    raw = compose(msg, message_q.attachments_of(tx, msg["id"], with_content=True))
                    raw = finalize_outbound(tx, raw=raw, message=msg, mailbox=mailbox)
                recipients = []
                for a in msg["to_addrs"] + msg["cc_addrs"] + msg["bcc_addrs"]:
                    spec = _addr_spec(a)
                    if spec and spec not in recipients:
                        recipients.append(spec)
                local = mailbox_q.addresses_in(tx, recipients)
                remote = [r for r in recipients if r not in local]
                for address in recipients:
                    if address in local:
                        store_inbound(tx, mailbox=local[address], raw=raw, now=now,
                                      authentication={"local_delivery": True, "verified_sender": True, "sender_mailbox": mailbox["address"]})
                result = None
                if remote:
                    result = self.transport.deliver(tx, message_id=msg["id"], mail_from=mailbox["address"], rcpt_tos=remote, raw=raw, now=now)
                if not message_q.update_message(tx, msg["id"], {"status": "sent", "sent_at": now, "raw": raw}, where={"status": "queued"}):
                    raise RuntimeError(f"message {msg['id']} changed state during delivery")  # rolls back the whole delivery
                outbox_q.finish(tx, row["seq"], state="done", now=now)
                msg = {**msg, "status": "sent", "sent_at": now}
                data = {"message_id": msg["id"], "thread_id": msg["thread_id"], "status": "sent",
                        "oversight_mode": msg["oversight_mode"], "local_recipients": sorted(local), "remote_recipients": remote}
                record(tx, at=now, principal=None, action="message.sent", mailbox=mailbox, message=msg,
                       details={"transport": self.transport.name if remote else "local", "result": result, **data},
                       event="message.sent", event_data=data)
                if msg["oversight_mode"] == "monitored":
                    record(tx, at=now, principal=None, action="message.review_requested", mailbox=mailbox, message=msg,
                           event="message.review_requested", event_data=data)
        except TemporaryFailure as exc:
            self._retry(row, str(exc))
        except PermanentFailure as exc:
            self._fail(row, str(exc))

    def _retry(self, row: dict[str, Any], error: str) -> None:
        now = self.ctx.now()
        attempt = row["attempts"]
        if attempt > len(RETRY_SCHEDULE_SECONDS):
            self._fail(row, f"gave up after {attempt} attempts: {error}")
            return
        with self.ctx.store.write() as tx:
            outbox_q.retry_later(tx, row["seq"], at=now + timedelta(seconds=RETRY_SCHEDULE_SECONDS[attempt - 1]), now=now, error=error)

    def _fail(self, row: dict[str, Any], error: str) -> None:
        now = self.ctx.now()
        with self.ctx.store.write() as tx:
            msg = message_q.by_id(tx, row["message_id"])
            mailbox = mailbox_q.by_id(tx, msg["mailbox_id"])
            message_q.update_message(tx, msg["id"], {"status": "failed", "failure_reason": error})
            outbox_q.finish(tx, row["seq"], state="failed", now=now, error=error)
            msg = {**msg, "status": "failed"}
            record(tx, at=now, principal=None, action="message.failed", mailbox=mailbox, message=msg,
                   details={"error": error}, event="message.failed",
                   event_data={"message_id": msg["id"], "thread_id": msg["thread_id"], "status": "failed", "error": error})
