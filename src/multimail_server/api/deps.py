"""Dependencies that make routes read like prose: `ctx: CtxDep, who: PrincipalDep`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPBearer

from ..core.access import Principal
from ..services import Context
from ..services.keys import authenticate_from
from . import ratelimit

# Declared for the OpenAPI document (the "Authorize" button); the check itself is ours, so a
# missing key gets the API reference's error shape instead of FastAPI's default.
_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer mm_live_...`")


async def get_ctx(request: Request) -> Context:
    # async: FastAPI runs a plain `def` dependency on its thread pool, a hand-over to a thread and
    # back for an attribute read (about 0.1 ms of CPU a request under load)
    return request.app.state.ctx


def get_principal(
    request: Request,
    _doc: Annotated[object, Depends(_bearer)] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    """The caller's key, with its rate limits: an IP that sent too many wrong keys is refused
    before the lookup (so keys cannot be brute-forced), then each key spends its own budget."""
    principal = authenticate_from(request.app.state.ctx, authorization, limits=ratelimit.limits_of(request),
                                  ip=ratelimit.client_ip(request))
    ratelimit.key_authenticated(request, principal.key_id)
    request.state.key_id = principal.key_id  # for the request's log line (api/observability.py)
    return principal


CtxDep = Annotated[Context, Depends(get_ctx)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
IdempotencyKeyHeader = Annotated[str | None, Header(alias="Idempotency-Key", description="Pins the answer for 24 h.")]
