"""The API's rate limits (services/rate_limits.py holds the budgets), adapted to HTTP.

Which budget a request spends, and why:
- a route that needs an API key: per key once the key is known (`key_authenticated`), and per
  IP for every wrong key (services/keys.authenticate_from, the dashboard's sign-in's rule too):
  after `rate_limit_auth_failures` wrong keys an IP is refused even with a right one, so keys
  cannot be brute-forced;
- verify_message (no key, costly checks): per IP, strict;
- one-click decision links `/d/{token}` (no key: the link is the credential): per IP, strict,
  answered with a small HTML page, since a person's browser shows it;
- any other route without a key: per IP;
- `/health` never (load balancers and monitors call it).

Every refusal is 429 with `Retry-After`; JSON routes answer the API's error shape, code
`rate_limited`, details {limit, retry_after}.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from ..core.limits import TooManyRequests
from ..services.rate_limits import Budget, RateLimits

LINK_PREFIX = "/d/"
LINK_PREFIXES = ("/d/", "/a/")  # decision links and approval links: one per-IP budget
VERIFY_PATH = "/v1/verify_message"
UNLIMITED_PATHS = frozenset({"/health"})

_HTML_429 = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex, nofollow">
<title>Too many requests</title></head><body><h1>Too many requests</h1>
<p>Please try again in {seconds} seconds.</p></body></html>
"""


def client_ip(request: Request) -> str:
    """The client: the peer, or what a trusted proxy says in X-Forwarded-For (uvicorn has set it from
    MULTIMAIL_FORWARDED_ALLOW_IPS before this sees the request)."""
    return request.client.host if request.client else "unknown"


def limits_of(request: Request) -> RateLimits:
    return request.app.state.rate_limits


def _authenticates(route: Any, principal_dependency: Any) -> bool:
    """Whether a route takes an API key (its dependencies include the principal)."""
    stack = [getattr(route, "dependant", None)]
    while stack:
        dependant = stack.pop()
        if dependant is None:
            continue
        if dependant.call is principal_dependency:
            return True
        stack.extend(dependant.dependencies)
    return False


def _keyless_budget(request: Request, limits: RateLimits) -> Budget | None:
    """The per-IP budget of a request to a route without an API key, or None (no limit here)."""
    path = request.url.path
    if path in UNLIMITED_PATHS:
        return None
    if path.startswith(LINK_PREFIXES):
        return limits.links
    if path == VERIFY_PATH:
        return limits.verify
    return limits.per_ip


def make_request_limit(principal_dependency: Any):
    """The app-wide dependency: spends the per-IP budget of key-less routes. Routes with a key
    are limited in the principal dependency instead (per key, and wrong keys per IP)."""
    keyed: dict[int, bool] = {}

    async def limit_request(request: Request) -> None:
        # async, so that a keyed route (nearly every request) returns at once instead of taking a
        # thread-pool hand-over for nothing; the budget itself may live in Redis, so spending it
        # goes to the thread pool.
        route = request.scope.get("route")
        if isinstance(route, APIRoute):
            if id(route) not in keyed:
                keyed[id(route)] = _authenticates(route, principal_dependency)
            if keyed[id(route)]:
                return
        limits = limits_of(request)
        budget = _keyless_budget(request, limits)
        if budget is not None:
            await run_in_threadpool(limits.hit, budget, client_ip(request))

    return limit_request


# -- API keys ---------------------------------------------------------------------------------------

def key_authenticated(request: Request, key_id: str | None) -> None:
    limits = limits_of(request)
    limits.hit(limits.per_key, key_id or "-")


# -- answers ----------------------------------------------------------------------------------------

def too_many_requests_response(request: Request, exc: TooManyRequests) -> HTMLResponse | JSONResponse:
    """429 with Retry-After: a plain page for the decision links (a browser shows it), the
    API's error shape everywhere else."""
    headers = {"Retry-After": str(exc.retry_after)}
    if request.url.path.startswith(LINK_PREFIXES):
        return HTMLResponse(_HTML_429.format(seconds=escape(str(exc.retry_after))), status_code=429,
                            headers={**headers, "Cache-Control": "no-store"})
    return JSONResponse(exc.to_body(), status_code=429, headers=headers)


def install(app: FastAPI, limits: RateLimits) -> None:
    app.state.rate_limits = limits

    @app.exception_handler(TooManyRequests)
    async def _too_many(request: Request, exc: TooManyRequests):
        return too_many_requests_response(request, exc)
