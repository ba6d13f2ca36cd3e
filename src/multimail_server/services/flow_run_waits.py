"""Paused Prefect flow runs: `register_wait`, and the worker that resumes them.

A flow run about to pause on `wait_for_approval` / `wait_for_decision` registers what it waits
for. When the server has a Prefect API configured, the transaction that records the approval,
rejection, cancellation or decision also marks the wait `due` (store/flow_run_waits), and the
resume worker calls `POST /flow_runs/{id}/resume` with the outcome as run input — within
milliseconds of the human acting, instead of the run polling. The registration answers with the
outcome at once when it is already known, so a human who acted before the run paused is never
missed; registering again after the resume is how the run confirms the outcome with the server
(the source of truth: anyone with access to Prefect could resume a run with made-up input).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from ..core import flow_run_waits as rules
from ..core.access import Principal
from ..core.errors import BadRequest, Conflict
from ..prefect_api import PrefectApi
from ..store import flow_run_waits as wait_q
from ..store import mailboxes as mailbox_q
from ..store import messages as message_q
from ..store import wakes
from .common import find_message, find_thread, record
from .context import Context
from .workers import PollingWorker

MAX_WAITS_PER_TARGET = 10  # flow runs waiting on one message or thread: bounds what one agent makes us call
RECONCILE_EVERY_SECONDS = 5.0

# internal status -> what the client sees
_CLIENT_STATUS = {"waiting": "waiting", "due": "resolved", "resumed": "resolved", "failed": "resolved", "answered": "resolved"}


def _view(row: dict[str, Any], resume: str) -> dict[str, Any]:
    target = "message_id" if row["kind"] == rules.APPROVAL else "thread_id"
    return {
        "wait_id": row.get("id"),
        "kind": row["kind"],
        "flow_run_id": row["flow_run_id"],
        target: row["target_id"],
        "resume": resume,
        # the key to pause under: the server resumes the run only from this pause
        "pause_key": pause_key(row["id"]) if row.get("id") else None,
        "status": _CLIENT_STATUS[row["status"]],
        "outcome": row.get("outcome"),
        # waiting | due (being resumed) | resumed | answered | failed; Prefect's own answers are
        # not shown: a client names any run id, and must not learn other runs' states from us
        "resume_status": row["status"] if row.get("id") else None,
    }


def _decision_state(tx, thread_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The thread's decide_email question and the outcome: the first reply that chose an
    option, or the question's refusal (rejected or cancelled before it went out)."""
    msgs = message_q.thread_messages(tx, thread_id)
    question = next((m for m in msgs if m["kind"] == "decision" and m["direction"] == "outbound"), None)
    if question is None:
        raise Conflict(f"Thread {thread_id} has no decide_email question to wait for.", code="not_a_decision",
                       details={"thread_id": thread_id})
    reply = next((m for m in msgs if m["decision"] and m["seq"] > question["seq"]), None)
    if reply is not None:
        return question, rules.decision_outcome(thread_id=thread_id, question_message_id=question["id"], reply=reply)
    return question, rules.refused_question_outcome(question)


def current_outcome(tx, kind: str, target_id: str) -> dict[str, Any] | None:
    """The outcome a wait has now, read from the messages (None while it is still open)."""
    if kind == rules.APPROVAL:
        msg = message_q.by_id(tx, target_id)
        return rules.approval_outcome(msg) if msg else None
    try:
        return _decision_state(tx, target_id)[1]
    except Conflict:
        return None


def register_wait(ctx: Context, *, principal: Principal, flow_run_id: Any, message_id: Any = None,
                  thread_id: Any = None) -> dict[str, Any]:
    """Record that a flow run waits for a message's approval or a thread's decision.

    Answers `resume: "prefect"` when this server will resume the run itself, `"none"` when it has
    no Prefect API (the caller then long-polls), and the outcome when it is already known; a
    caller that gets the outcome in the answer is running, so nothing is left to resume.
    Registering the same (run, target) again returns the same wait: that is also how a resumed
    run confirms its outcome."""
    run_id = rules.flow_run_id(flow_run_id)
    if (message_id is None) == (thread_id is None):
        raise BadRequest("Give message_id (to wait for its approval) or thread_id (to wait for the decision), not both.",
                         code="invalid_body", details={"fields": ["message_id", "thread_id"]})
    resume = "prefect" if ctx.settings.prefect_api_url else "none"
    now = ctx.now()
    with ctx.store.write() as tx:
        if message_id is not None:
            # locked: an approval committing meanwhile waits for this wait to be visible, so it settles it
            msg, box = find_message(tx, principal, message_id, lock=True)
            if msg["direction"] != "outbound":
                raise Conflict(f"Message {msg['id']} is inbound: only outbound mail waits for approval.",
                               code="invalid_state", details={"message_id": msg["id"], "direction": msg["direction"]})
            kind, target = rules.APPROVAL, msg["id"]
        else:
            thread, box = find_thread(tx, principal, thread_id)
            _decision_state(tx, thread["id"])  # a thread without a question is a 409
            msg, kind, target = None, rules.DECISION, thread["id"]
        outcome = current_outcome(tx, kind, target)
        if resume == "none":
            return _view({"kind": kind, "flow_run_id": run_id, "target_id": target,
                          "status": "waiting" if outcome is None else "answered", "outcome": outcome}, resume)
        existing = wait_q.find(tx, flow_run_id=run_id, kind=kind, target_id=target)
        if existing is None:
            if wait_q.count_for_target(tx, kind=kind, target_id=target) >= MAX_WAITS_PER_TARGET:
                raise Conflict(f"{MAX_WAITS_PER_TARGET} flow runs already wait for this; no more may.", code="too_many_waits",
                               details={"target_id": target})
            existing = wait_q.insert_wait(tx, flow_run_id=run_id, kind=kind, target_id=target, mailbox_id=box["id"],
                                          created_by=principal.key_id, now=now, outcome=outcome)
            if existing is None:  # registered concurrently by the same run (a retried request)
                existing = wait_q.find(tx, flow_run_id=run_id, kind=kind, target_id=target)
            else:
                record(tx, at=now, principal=principal, action="flow_run.wait_registered", mailbox=box, message=msg,
                       details={"wait_id": existing["id"], "flow_run_id": run_id, "kind": kind, "target_id": target,
                                "already_resolved": outcome is not None})
        assert existing is not None  # inserted, or found after a concurrent insert of the same wait
        if outcome is not None and existing["status"] in ("waiting", "due"):
            # the caller is running and now has the outcome: resuming it is no longer owed
            wait_q.answer(tx, existing["seq"], outcome=existing["outcome"] or outcome, now=now)
            existing = {**existing, "status": "answered", "outcome": existing["outcome"] or outcome}
    return _view(existing, resume)


def reconcile(ctx: Context, *, older_than: float = 2.0, limit: int = 200) -> int:
    """Mark due the waits whose outcome exists but whose settling event missed them (an outcome
    committed between a registration's read and its insert, in another process): a safety net
    the resume worker runs every few seconds. Returns how many it marked."""
    now = ctx.now()
    marked = 0
    with ctx.store.write(notify=False) as tx:
        for row in wait_q.waiting_since(tx, now - timedelta(seconds=older_than), limit=limit):
            outcome = current_outcome(tx, row["kind"], row["target_id"])
            if outcome is not None:
                marked += wait_q.mark_due(tx, kind=row["kind"], target_id=row["target_id"], outcome=outcome, now=now)
    return marked


def pause_key(wait_id: str) -> str:
    """The pause key a run waiting on `wait_id` pauses under (register_wait hands it out; Prefect
    allows lowercase letters, digits and dashes); the server resumes a run only from that pause."""
    return "multimail-" + wait_id.lower().replace("_", "-")


class FlowRunResumeWorker(PollingWorker):
    """Resumes flow runs whose wait an event settled, retrying what Prefect was not ready for."""

    name = "prefect-resume"
    wake_topics = frozenset({wakes.FLOW_RUNS})

    def __init__(self, ctx: Context, api: PrefectApi):
        super().__init__(ctx)
        self.api = api
        self._last_reconcile = 0.0
        self._reconciled = False  # the last idle marked waits due: look again at once

    @property
    def poll_seconds(self) -> float:
        return self.ctx.settings.prefect_poll_seconds

    @property
    def stop_timeout(self) -> float:
        return self.ctx.settings.prefect_timeout_seconds * 2 + 5

    def run_once(self, limit: int = 10) -> int:
        lease = self.ctx.settings.prefect_timeout_seconds * 2 + 10  # resume + a state read
        with self.ctx.store.write(notify=False) as tx:
            rows = wait_q.claim_due(tx, self.ctx.now(), lease_seconds=lease, limit=limit)
        for row in rows:
            self._attempt(row)
        return len(rows)

    def idle(self) -> None:
        """Reconcile now and then (its write wakes nobody: the next pass comes at once instead)."""
        self._reconciled = False
        if time.monotonic() - self._last_reconcile > RECONCILE_EVERY_SECONDS:
            self._last_reconcile = time.monotonic()
            self._reconciled = bool(reconcile(self.ctx))

    def wait_seconds(self) -> float:
        """Until the earliest scheduled retry (the first ones come within a second), at most the
        poll interval; a retry due but not taken (another server holds its lease) waits the
        poll interval rather than re-reading every few milliseconds."""
        return 0.0 if self._reconciled else self.sleep_until(wait_q.next_due_at)

    def _attempt(self, row: dict[str, Any]) -> None:
        ctx = self.ctx
        result = self.api.resume(row["flow_run_id"], row["outcome"], pause_key=pause_key(row["id"]))
        now = ctx.now()
        schedule = ctx.settings.prefect_resume_retry_schedule
        with ctx.store.write() as tx:
            box = mailbox_q.by_id(tx, row["mailbox_id"])
            msg = message_q.by_id(tx, row["target_id"]) if row["kind"] == rules.APPROVAL else None
            details = {"wait_id": row["id"], "flow_run_id": row["flow_run_id"], "kind": row["kind"],
                       "target_id": row["target_id"], "attempts": row["attempts"]}
            if result.ok:
                wait_q.settle(tx, row["seq"], status="resumed", now=now, error=None)
                # a suspended run (its process exited) is rescheduled for a worker to run it again
                record(tx, at=now, principal=None, action="flow_run.resumed", mailbox=box, message=msg,
                       details={**details, "outcome": row["outcome"], "rescheduled": result.rescheduled})
            elif result.retryable and row["attempts"] <= len(schedule):
                wait_q.settle(tx, row["seq"], status="due", now=now, error=result.error,
                              next_attempt_at=now + timedelta(seconds=schedule[row["attempts"] - 1]))
            else:
                wait_q.settle(tx, row["seq"], status="failed", now=now, error=result.error)
                record(tx, at=now, principal=None, action="flow_run.resume_failed", mailbox=box, message=msg,
                       details={**details, "error": result.error})
