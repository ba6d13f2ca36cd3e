"""What a paused Prefect flow run is waiting for, and the outcome that resumes it.

A flow run waits either for the approval of one held message (kind `approval`) or for the answer
to one decide_email question (kind `decision`, keyed by its thread). The outcome is the run input
the server hands Prefect when it resumes the run, and the answer `register_wait` gives when the
outcome is already known, so both paths carry the same dict. Pure: no database, no HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .errors import BadRequest

APPROVAL = "approval"
DECISION = "decision"

# The events that settle an approval wait (the status they mean is on the message itself).
APPROVAL_EVENTS = frozenset({"message.approved", "message.rejected", "message.cancelled"})
DECISION_EVENT = "decision.received"
SETTLING_EVENTS = APPROVAL_EVENTS | {DECISION_EVENT}


def flow_run_id(value: Any, field: str = "flow_run_id") -> str:
    """A Prefect flow run id in canonical form (a UUID), or a 400 naming the field."""
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise BadRequest(f"{field} must be a Prefect flow run id (a UUID).", code="invalid_field", details={"field": field})


def flow_run_id_from_metadata(metadata: Mapping[str, Any] | None) -> str | None:
    """`metadata.prefect.flow_run_id` of a send when it is a flow run id: the run that queued
    the message. Metadata is free-form (docs/api.md), so anything else is kept but not indexed."""
    prefect = (metadata or {}).get("prefect")
    if not isinstance(prefect, Mapping):
        return None
    try:
        return flow_run_id(prefect.get("flow_run_id"))
    except BadRequest:
        return None


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at else None


def approval_outcome(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """The outcome of an approval wait from the message's current row, or None while pending.

    A message that was never held (monitored/autonomous, or a reply under gated_send) needs no
    approval: `not_required`, so a flow that always waits still goes on."""
    status = message.get("approval_status")
    if status == "pending":
        return None
    if status is None:
        return {"kind": APPROVAL, "message_id": message["id"], "status": "not_required",
                "decided_by": None, "decided_at": None, "reason": None}
    return {"kind": APPROVAL, "message_id": message["id"], "status": status, "decided_by": message.get("decided_by"),
            "decided_at": _iso(message.get("decided_at")), "reason": message.get("decision_note")}


def decision_outcome(*, thread_id: str, question_message_id: str, reply: Mapping[str, Any]) -> dict[str, Any]:
    """The outcome of a decision wait: the first reply on the thread that chose an option."""
    return {"kind": DECISION, "thread_id": thread_id, "question_message_id": question_message_id,
            "message_id": reply["id"], "decision": reply["decision"], "from": reply.get("from_addr")}


def refused_question_outcome(question: Mapping[str, Any]) -> dict[str, Any] | None:
    """A decision wait's outcome when its question will never go out (rejected or cancelled
    before approval): nobody can answer, so the run is woken with the refusal, not left to time out."""
    status = question.get("approval_status")
    if status not in ("rejected", "cancelled"):
        return None
    return {"kind": DECISION, "thread_id": question["thread_id"], "question_message_id": question["id"], "message_id": None,
            "decision": None, "status": status, "decided_by": question.get("decided_by"),
            "decided_at": _iso(question.get("decided_at")), "reason": question.get("decision_note")}


def settles(kind: str, event_type: str) -> bool:
    """Approval waits settle on the approval events; decision waits on a decision, or on the
    rejection or cancellation of their question."""
    return (kind == APPROVAL and event_type in APPROVAL_EVENTS) or (
        kind == DECISION and event_type in (DECISION_EVENT, "message.rejected", "message.cancelled"))
