"""The approval worker: applies approval timeouts when due and queues the digests of monitored
mailboxes.

Both are read from the database on every pass (nothing lives only in memory), so a restart loses
nothing: a timeout that came due while the server was down is applied at the next pass. Each item
is taken and settled in one transaction, locked with `FOR UPDATE SKIP LOCKED` on PostgreSQL
(store/approvals.py), and every change is a compare-and-set on the approval status, so two
workers never apply one timeout twice nor queue one digest twice.

On timeout (core/approval_policy.py): `reject` rejects with the reason "approval timed out" (the
flow waiting on the message sees MessageRejected with it); `escalate` notifies `escalate_to` and
starts the wait again, and a second timeout rejects; `approve` approves as the server itself
(`decided_by: "timeout"`) only while the server allows it, else rejects saying why.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..core.approval_policy import DIGEST_SECONDS, TIMED_OUT_REASON, HeldPolicy
from ..store import approvals as approval_q
from ..store import mailboxes as mailbox_q
from ..store import messages as message_q
from ..store import outbox as outbox_q
from ..store import wakes
from .approval_notices import notify, queue_digest
from .approvals import reject_held
from .common import all_recipients, record
from .context import Context
from .suppressions import suppressed_entries, why_suppressed
from .views import pending_item
from .workers import PollingWorker

TIMEOUT_ACTOR = "timeout"


class ApprovalWorker(PollingWorker):
    name = "approvals"
    # Timeouts and digests come with time, not with commits: woken only when a held message gets
    # an approval deadline (which may be sooner than the current sleep), else on its clock.
    wake_topics = frozenset({wakes.APPROVALS})

    def __init__(self, ctx: Context):
        super().__init__(ctx)

    @property
    def poll_seconds(self) -> float:
        return self.ctx.settings.approval_poll_seconds

    def run_once(self, limit: int = 20) -> int:
        return self.apply_timeouts(limit) + self.queue_digests()

    def wait_seconds(self) -> float:
        """Until the earliest approval deadline, at most the poll interval: a timeout is applied
        when it falls due, not at the next poll (a new deadline wakes the worker, wakes.APPROVALS)."""
        return self.sleep_until(approval_q.next_timeout_at)

    # -- timeouts ------------------------------------------------------------------------------

    def apply_timeouts(self, limit: int = 20) -> int:
        now = self.ctx.now()
        # A read first: an idle pass must not commit, or its commit would wake every worker of
        # this process (this one too) and an idle server would spin.
        with self.ctx.store.read() as tx:
            if not approval_q.any_timeout_due(tx, now):
                return 0
        with self.ctx.store.write() as tx:
            rows = approval_q.due_timeouts(tx, now, limit)
            for msg in rows:
                mailbox = mailbox_q.by_id(tx, msg["mailbox_id"])
                if mailbox is None:
                    continue
                policy = HeldPolicy.from_json(msg.get("approval_policy"))
                details = {"timed_out": True, "on_timeout": policy.on_timeout, "escalated": policy.escalated}
                if policy.on_timeout == "escalate" and not policy.escalated and mailbox.get("escalate_to"):
                    # Escalated once: the next timeout rejects (the branch below).
                    escalated = HeldPolicy(required=policy.required, timeout=policy.timeout, on_timeout=policy.on_timeout, escalated=True)
                    due = now + timedelta(seconds=policy.timeout or 0)
                    values = {"approval_policy": escalated.as_json(), "approval_due_at": due}
                    if not message_q.update_message(tx, msg["id"], values, where={"approval_status": "pending"}):
                        continue
                    msg = {**msg, **values}
                    record(tx, at=now, principal=None, action="message.escalated", mailbox=mailbox, message=msg,
                           details={**details, "escalate_to": mailbox["escalate_to"], "approval_due_at": due.isoformat()})
                    notify(tx, msg=msg, mailbox=mailbox, approvers=list(mailbox["escalate_to"]), now=now,
                           link_ttl_seconds=self.ctx.settings.approval_link_ttl_seconds, reason="escalated")
                elif policy.on_timeout == "approve" and not policy.escalated and self.ctx.settings.allow_approve_on_timeout:
                    # The clock approves only what a human could: not a send to an address
                    # suppressed since the message was held (approve_held refuses that with 409).
                    if stopped := suppressed_entries(tx, mailbox, all_recipients(msg)):
                        reject_held(tx, now=now, principal=None, msg=msg, mailbox=mailbox, via=details, decided_by=TIMEOUT_ACTOR,
                                    reason=why_suppressed(stopped[0]) + "; rejected on timeout instead of approved")
                    else:
                        self._approve(tx, msg, mailbox, now, details)
                else:
                    reason = TIMED_OUT_REASON
                    if policy.on_timeout == "approve" and not self.ctx.settings.allow_approve_on_timeout:
                        reason += " (this server does not allow approval on timeout)"
                    elif policy.escalated:
                        reason += " (also after escalation)"
                    reject_held(tx, now=now, principal=None, msg=msg, mailbox=mailbox, reason=reason, via=details,
                                decided_by=TIMEOUT_ACTOR)
        return len(rows)

    def _approve(self, tx, msg, mailbox, now, details) -> None:
        from .views import message_version

        attachments = message_q.attachments_of(tx, msg["id"], with_content=True)
        version = message_version(msg, attachments)
        # A scheduled message approved ahead of its send_at still waits for it (as approve_held).
        later = msg.get("send_at") is not None and msg["send_at"] > now
        values = {"approval_status": "approved", "status": "scheduled" if later else "queued", "decided_at": now,
                  "decided_by": TIMEOUT_ACTOR, "decision_note": "approved on timeout: no human decided in time",
                  "approved_content_hash": version, "approval_due_at": None}
        if not message_q.update_message(tx, msg["id"], values, where={"approval_status": "pending"}):
            return
        outbox_q.enqueue(tx, msg["id"], now, not_before=msg["send_at"] if later else None)
        msg = {**msg, **values}
        record(tx, at=now, principal=None, action="message.approved", mailbox=mailbox, message=msg,
               details={**details, "content_hash": version, "note": values["decision_note"]},
               event="message.approved", event_data=pending_item(msg, mailbox))

    # -- digests -------------------------------------------------------------------------------

    def period_seconds(self, digest: str) -> int:
        return self.ctx.settings.digest_period_seconds or DIGEST_SECONDS[digest]

    def _boundary(self, mailbox, now: datetime) -> datetime | None:
        """The end of the mailbox's last finished digest period, if no digest covers it yet."""
        period = self.period_seconds(mailbox["digest"])
        epoch = int(now.timestamp())
        boundary = datetime.fromtimestamp(epoch - epoch % period, UTC)
        since = mailbox.get("digest_sent_until")
        return None if since is not None and boundary <= since else boundary

    def queue_digests(self) -> int:
        """For each monitored mailbox whose digest period ended: one digest of what went out in it,
        queued in the transaction that moves the mailbox's `digest_sent_until` on (never twice,
        never skipped)."""
        now = self.ctx.now()
        queued = 0
        with self.ctx.store.read() as tx:
            if not any(self._boundary(m, now) for m in approval_q.digest_mailboxes(tx, lock=False)):
                return 0
        with self.ctx.store.write() as tx:
            for mailbox in approval_q.digest_mailboxes(tx):
                boundary = self._boundary(mailbox, now)
                since = mailbox.get("digest_sent_until")
                if boundary is None:
                    continue
                items = approval_q.sent_between(tx, mailbox["id"], since, boundary)
                queued += len(queue_digest(tx, mailbox=mailbox, items=items, start=since, end=boundary, now=now))
                mailbox_q.update_mailbox(tx, mailbox["id"], {"digest_sent_until": boundary})
        return 0  # a digest pass never needs an immediate second pass (queued: the digests it queued)
