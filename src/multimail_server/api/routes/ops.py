"""Operating the server: GET /metrics (Prometheus), GET /ready (can this process take traffic?).

GET /health (in app.py) says the process serves; GET /ready also says the schema is current and
the workers run, so a load balancer sends traffic only where mail will actually move.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from ...core.access import Scope, require_scope
from ...services.metrics import CONTENT_TYPE, metrics_for, readiness
from ..deps import CtxDep, get_principal
from ..errors import ErrorBody, error_response, responses

router = APIRouter(tags=["operations"])


def metrics_reader(request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None) -> None:
    """The metrics token (`metrics_token`, for scrapers) or an admin key; any other key is a 403,
    none or an unknown one a 401 (and spends the wrong-key budget, like every keyed route)."""
    token = request.app.state.ctx.settings.metrics_token
    if token and authorization and hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        return
    principal = get_principal(request, None, authorization)
    require_scope(principal.scopes, Scope.ADMIN, "read the server's metrics")


@router.get("/metrics", operation_id="metrics", response_class=Response, dependencies=[Depends(metrics_reader)],
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format."},
                       **responses(403)})
def metrics(ctx: CtxDep) -> Response:
    """Requests by route and status, latencies, SMTP sessions and transactions, delivery attempts
    (by outcome); outbox depth and oldest age, pending approvals and oldest age, webhook
    deliveries by outcome, open long-polls. An admin key or the metrics token."""
    return Response(metrics_for(ctx).render(), media_type=CONTENT_TYPE)


class Check(BaseModel):
    ok: bool = Field(description="Whether this check passed; the other fields say what was seen.")
    model_config = {"extra": "allow"}


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, Check] = Field(description="database; migrations (current, head); workers (alive, by name); "
                                   "roles (the roles this process runs, and how it learns of other processes' commits: "
                                   "notify or poll).")


@router.get("/ready", operation_id="ready", response_model=Readiness,
            responses={503: {"model": ErrorBody, "description": "A check failed: `details.failed` names it."}})
def ready(request: Request, ctx: CtxDep) -> JSONResponse:
    """200 when the database answers, its schema is current and this process's workers run."""
    checks = readiness(ctx, getattr(request.app.state, "worker_liveness", None))
    if (roles := getattr(request.app.state, "roles", None)) is not None:  # set by `multimail serve`
        listening = roles["listening"]
        checks["roles"] = {"ok": True, "roles": roles["roles"],
                           "wake_ups": "poll" if listening is None else ("notify" if listening() else "poll, reconnecting")}
    failed = [name for name, check in checks.items() if not check["ok"]]
    if failed:
        return error_response(503, "not_ready", f"Not ready: {', '.join(failed)} check failed.",
                              {"failed": failed, "checks": checks})
    return JSONResponse({"status": "ready", "checks": checks})
