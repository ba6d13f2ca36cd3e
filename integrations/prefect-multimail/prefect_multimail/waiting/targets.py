"""What is awaited: the approval of a held message, the answer to a decide_email question, or
(without a pause: the server resumes no run for it) a message's delivery.

A target knows how to look at its outcome on the MultiMail server (:meth:`poll_steps`, as
steps), what the outcome means for the caller (:meth:`conclude`: a result or an exception), and
how a timeout reads. The wait logic (:mod:`.logic`) is the same for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeGuard, Union

from ..exceptions import (
    ApprovalTimeout,
    DecisionTimeout,
    DeliveryFailed,
    DeliveryTimeout,
    MessageCancelled,
    MessageRejected,
    MultiMailWaitError,
    WaitTimeout,
)
from .outcomes import approval_outcome, confirm_never_held, decision_outcome, question_of, refusal
from .steps import GetThread, ListPending, ReadEmail, Steps

ApprovalResult = Literal["approved", "not_required"]


def checked_message_id(message_id: str) -> str:
    """``message_id``, or ValueError: a wait on nothing would wait until its timeout."""
    if not isinstance(message_id, str) or not message_id:
        raise ValueError(f"message_id must be a message id (msg_...), got {message_id!r}")
    return message_id


class Approval:
    """The approval of the held message ``message_id``."""

    kind = "approval"
    pausable = True  # the server resumes a run paused for it

    def __init__(self, message_id: str):
        self.message_id = checked_message_id(message_id)

    def fresh(self) -> Approval:
        """A copy with nothing seen yet (for the watcher, which looks on its own)."""
        return Approval(self.message_id)

    def register_args(self) -> dict[str, str]:
        return {"message_id": self.message_id}

    def describe(self) -> str:
        return f"approval of message {self.message_id}"

    def poll_steps(self, wait: float) -> Steps:
        """One look at the approval (a long-poll of ``wait`` s when > 0): the outcome, or None."""
        outcome = approval_outcome(self.message_id, (yield ListPending(self.message_id, wait=wait or None)))
        if outcome is not None and outcome["status"] == "not_required":
            confirm_never_held(self.message_id, (yield ReadEmail(self.message_id)))
        return outcome

    def conclude(self, outcome: Mapping[str, Any]) -> ApprovalResult:
        status = outcome.get("status")
        if status == "approved" or status == "not_required":
            return status
        error = refusal(outcome, f"Message {self.message_id}", message_id=self.message_id)
        if error is not None:
            raise error
        raise MultiMailWaitError(f"Unexpected approval outcome for message {self.message_id}: {dict(outcome)!r}",
                                 message_id=self.message_id, outcome=outcome)

    def timeout_error(self, timeout: float) -> WaitTimeout:
        return ApprovalTimeout(f"Message {self.message_id} was neither approved nor rejected within {timeout:g} s.",
                               timeout=timeout, message_id=self.message_id)


class Decision:
    """The answer to the decide_email question of thread ``thread_id``.

    It remembers what it has seen of the thread, so that each look waits for news only.
    """

    kind = "decision"
    pausable = True

    def __init__(self, thread_id: str):
        if not isinstance(thread_id, str) or not thread_id:
            raise ValueError(f"thread_id must be a thread id (thr_...), got {thread_id!r}")
        self.thread_id = thread_id
        self._seen: str | None = None  # the last message of the thread already looked at
        self._held: str | None = None  # the question's id while it waits for approval itself

    def fresh(self) -> Decision:
        """A copy with nothing seen yet (for the watcher, which looks on its own)."""
        return Decision(self.thread_id)

    def register_args(self) -> dict[str, str]:
        return {"thread_id": self.thread_id}

    def describe(self) -> str:
        return f"decision in thread {self.thread_id}"

    def _look(self, wait: float) -> GetThread:
        # The first look answers at once; later ones wait for a message after the last one seen
        # (a reply that chose nothing, e.g. an out-of-office, just starts another wait).
        if self._seen is None or not wait:
            return GetThread(self.thread_id)
        return GetThread(self.thread_id, wait=wait, after_message_id=self._seen)

    def _read(self, thread: Mapping[str, Any]) -> tuple[dict[str, Any] | None, Mapping[str, Any] | None]:
        """(the outcome, or None) and the question when it was refused (rejected / cancelled)."""
        outcome = decision_outcome(thread)
        messages = thread.get("messages") or []
        if messages:
            self._seen = messages[-1].get("message_id")
        question = question_of(thread)
        self._held = question.get("message_id") if question.get("status") == "pending" else None
        if outcome is None and question.get("status") in ("rejected", "cancelled"):
            return None, question
        return outcome, None

    def _refused(self, question: Mapping[str, Any], pending: Mapping[str, Any]) -> MultiMailWaitError:
        item = approval_outcome(str(question.get("message_id")), pending) or {"status": question.get("status")}
        if item.get("status") not in ("rejected", "cancelled"):
            item = {**item, "status": question.get("status")}
        what = f"The question {question.get('message_id')} of thread {self.thread_id} (nobody will answer it)"
        return refusal(item, what, message_id=question.get("message_id"), thread_id=self.thread_id) or MultiMailWaitError(
            f"{what} is {question.get('status')}.", thread_id=self.thread_id)

    def poll_steps(self, wait: float) -> Steps:
        """One look at the thread (a long-poll of ``wait`` s when > 0): the decision, or None."""
        if self._held is not None and wait:
            # The question itself is held for approval: nobody can answer before it goes out, and
            # its rejection adds no message to the thread, so wait on its approval instead.
            yield ListPending(self._held, wait=wait)
            wait = 0
        outcome, refused = self._read((yield self._look(wait)))
        if refused is not None:
            raise self._refused(refused, (yield ListPending(refused["message_id"])))
        return outcome

    def conclude(self, outcome: Mapping[str, Any]) -> str:
        decision = outcome.get("decision")
        if isinstance(decision, str) and decision:
            return decision
        # the server settles a decision wait with the refusal when its question was rejected or
        # cancelled before it went out: nobody will answer
        question_id = outcome.get("question_message_id")
        error = refusal(outcome, f"The question {question_id} of thread {self.thread_id} (nobody will answer it)",
                        message_id=question_id, thread_id=self.thread_id)
        if error is not None:
            raise error
        raise MultiMailWaitError(f"Unexpected decision outcome for thread {self.thread_id}: {dict(outcome)!r}",
                                 thread_id=self.thread_id, outcome=outcome)

    def timeout_error(self, timeout: float) -> WaitTimeout:
        return DecisionTimeout(f"Nobody answered the question of thread {self.thread_id} within {timeout:g} s.",
                               timeout=timeout, thread_id=self.thread_id)


class Delivery:
    """The delivery of message ``message_id``: its status reaching ``sent``, or an end that is not.

    Why a wait of its own: an approval means a human let the message go; it goes out moments
    later, through a relay that may refuse it. A flow whose next step assumes the mail is out
    (it tells someone it was sent) waits for this. There is no long-poll on a message's status,
    so each look is one ``read_email``, paced by the wait's ``poll_interval``.
    """

    kind = "delivery"
    pausable = False  # nobody resumes a run when mail goes out: the wait polls
    ENDS = ("sent", "failed", "rejected", "cancelled")

    def __init__(self, message_id: str):
        self.message_id = checked_message_id(message_id)

    def describe(self) -> str:
        return f"delivery of message {self.message_id}"

    def poll_steps(self, wait: float) -> Steps:
        """One look at the message: its end (``status``, ``failure_reason``), or None on its way."""
        message = yield ReadEmail(self.message_id)
        if message.get("direction") == "inbound":
            raise ValueError(f"Message {self.message_id} is inbound mail: it is not delivered by MultiMail.")
        if message.get("status") not in self.ENDS:
            return None
        return {"status": message["status"], "failure_reason": message.get("failure_reason")}

    def conclude(self, outcome: Mapping[str, Any]) -> Literal["sent"]:
        status = outcome.get("status")
        if status == "sent":
            return "sent"
        if status == "failed":
            reason = outcome.get("failure_reason")
            raise DeliveryFailed(f"Message {self.message_id} could not be delivered: {reason or 'no reason recorded'}.",
                                 failure_reason=reason, message_id=self.message_id, outcome=outcome)
        error = MessageRejected if status == "rejected" else MessageCancelled
        raise error(f"Message {self.message_id} is {status}: it will never go out.", message_id=self.message_id,
                    outcome=outcome)

    def timeout_error(self, timeout: float) -> WaitTimeout:
        return DeliveryTimeout(f"Message {self.message_id} had neither gone out nor failed within {timeout:g} s.",
                               timeout=timeout, message_id=self.message_id)


Target = Union[Approval, Decision, Delivery]
Pausable = Union[Approval, Decision]
"""The targets a flow run may pause or suspend for (the server resumes runs for them)."""


def may_pause(target: Target) -> TypeGuard[Pausable]:
    """Whether a flow run may pause (or suspend) for ``target``: the server resumes runs for it."""
    return target.pausable
