"""Outcomes: what the MultiMail server says about an approval or a decision, read from its
answers, and the run input a paused flow run is resumed with (which carries one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect.input import RunInput
from pydantic import ConfigDict, Field

from ..exceptions import MessageCancelled, MessageRejected, MultiMailWaitError


class MultiMailOutcome(RunInput):
    """The run input a paused flow run is resumed with: the MultiMail server's outcome object.

    Only ``kind`` is required and unknown fields are kept, so the server can add fields to its
    outcomes without breaking a paused run. What arrives here is never trusted as such: the wait
    confirms it with the server before acting on it.
    """

    model_config = ConfigDict(extra="allow")

    kind: str = Field(description="approval or decision.")
    message_id: str | None = Field(default=None, description="The held message, or the reply that decided.")
    status: str | None = Field(default=None, description="approved, rejected, cancelled or not_required.")
    decided_by: str | None = Field(default=None, description="Who approved or rejected.")
    decided_at: str | None = Field(default=None, description="When (ISO 8601).")
    reason: str | None = Field(default=None, description="The approver's reason or note.")
    thread_id: str | None = Field(default=None, description="The decision's thread.")
    question_message_id: str | None = Field(default=None, description="The question's message.")
    decision: str | None = Field(default=None, description="The chosen option.")


def approval_outcome(message_id: str, answer: Mapping[str, Any]) -> dict[str, Any] | None:
    """The approval outcome in a ``list_pending(message_id=...)`` answer, or None while pending."""
    items = [m for m in answer.get("messages", []) if m.get("message_id") == message_id]
    if not items:  # never held for approval: it went (or goes) straight out
        return {"kind": "approval", "message_id": message_id, "status": "not_required",
                "decided_by": None, "decided_at": None, "reason": None}
    item = items[0]
    if item.get("status") == "pending":
        return None
    return {"kind": "approval", "message_id": message_id, "status": item.get("status"),
            "decided_by": item.get("decided_by"), "decided_at": item.get("decided_at"), "reason": item.get("decision_note")}


def confirm_never_held(message_id: str, message: Any) -> None:
    """No approval item means "never held" only if the message says so too: a server that
    ignored `message_id` (an older one, or another implementation) must not let a flow go on."""
    status = message.get("approval_status") if isinstance(message, Mapping) else getattr(message, "approval_status", None)
    if status is not None:
        raise MultiMailWaitError(f"Message {message_id} is {status} for approval, but list_pending did not list it; "
                                 "not taking that for 'no approval needed'.", message_id=message_id)


def question_of(thread: Mapping[str, Any]) -> Mapping[str, Any]:
    """The decide_email question of a thread (the message with options); ValueError if none."""
    question = next((m for m in thread.get("messages", []) if m.get("options")), None)
    if question is None:
        raise ValueError(f"Thread {thread.get('thread_id')} has no decide_email question to wait for.")
    return question


def decision_outcome(thread: Mapping[str, Any]) -> dict[str, Any] | None:
    """The decision in a ``get_thread`` answer (the first reply that chose an option), or None."""
    question = question_of(thread)
    reply = next((m for m in thread.get("messages", []) if m.get("is_reply") and m.get("decision")), None)
    if reply is None:
        return None
    return {"kind": "decision", "thread_id": thread.get("thread_id"), "question_message_id": question.get("message_id"),
            "message_id": reply.get("message_id"), "decision": reply.get("decision"), "from": reply.get("from")}


def refusal(outcome: Mapping[str, Any], what: str, **ids: Any) -> MultiMailWaitError | None:
    """The error for an approval outcome that means "this will never go out", else None."""
    status = outcome.get("status")
    by, reason = outcome.get("decided_by"), outcome.get("reason")
    detail = f" by {by}" if by else ""
    detail += f": {reason}" if reason else ""
    if status == "rejected":
        return MessageRejected(f"{what} was rejected{detail}.", reason=reason, decided_by=by,
                               decided_at=outcome.get("decided_at"), outcome=outcome, **ids)
    if status == "cancelled":
        return MessageCancelled(f"{what} was cancelled{detail}.", reason=reason, decided_by=by, outcome=outcome, **ids)
    return None
