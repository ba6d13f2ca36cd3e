"""register_wait: a Prefect flow run pauses until a human approves or answers, and the server
resumes it (see services/flow_run_waits.py)."""

from fastapi import APIRouter

from ...client.types import FlowRunWait
from ...services import flow_run_waits as svc
from ..deps import CtxDep, PrincipalDep
from ..errors import responses
from ..schemas import RegisterWait

router = APIRouter(prefix="/v1", tags=["prefect"])


@router.post("/register_wait", operation_id="register_wait", response_model=FlowRunWait, responses=responses(404, 409, body=True))
def register_wait(body: RegisterWait, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Register that Prefect flow run `flow_run_id` waits for the approval of `message_id`, or
    for the decision on `thread_id`, before it pauses.

    Answers `{"wait_id", "kind": "approval"|"decision", "flow_run_id", "message_id"|"thread_id",
    "resume", "pause_key", "status": "waiting"|"resolved", "outcome", "resume_status"}`; pause
    under `pause_key`: the server resumes the run only from that pause. `resume: "prefect"`: this server will
    resume the run through its configured Prefect API (`POST /flow_runs/{id}/resume` with the
    outcome as run input) the moment the outcome happens; `"none"`: it has no Prefect API, so
    the caller long-polls (list_pending / get_thread with `wait`). When the outcome is already
    known it is in the answer and the run need not pause. Registering again returns the same
    wait with its current outcome, which is how a resumed run confirms it with the server.
    Outcomes: `{"kind": "approval", "message_id", "status": "approved"|"rejected"|"cancelled"|
    "not_required", "decided_by", "decided_at", "reason"}` or `{"kind": "decision", "thread_id",
    "question_message_id", "message_id", "decision", "from"}` (with `decision` null and `status`
    rejected/cancelled when the question itself was refused)."""
    return svc.register_wait(ctx, principal=who, **body.model_dump())
