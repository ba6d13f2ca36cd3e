"""The dashboard's HTTP plumbing: templates, the session cookie, CSRF-checked forms, and a route
class that turns the services' errors into pages (the API answers them as JSON; a person's
browser gets a page saying what happened, with the same message)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from anyio import to_thread
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined

from ..core.access import Scope
from ..core.errors import Forbidden, MultiMailError, Unauthorized
from ..core.web_headers import private_page_headers
from ..services import Context
from ..services import dashboard_sessions as sessions
from ..services.dashboard_sessions import Session

SESSION_COOKIE = "mm_dashboard"
LOGIN_COOKIE = "mm_dashboard_login"  # the sign-in form's pre-session CSRF nonce
MAX_FORM_BYTES = 2 * 1024 * 1024

# Every page: only this server's own scripts, styles and frames; no framing by other sites.
PAGE_HEADERS = private_page_headers(
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    referrer_policy="same-origin", frame_options="DENY")

templates = Environment(loader=PackageLoader("multimail_server.dashboard", "templates"), autoescape=True,
                        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def ctx_of(request: Request) -> Context:
    return request.app.state.ctx


class SignInNeeded(Exception):
    """No valid session: the browser is sent to the sign-in page (and back afterwards)."""


def is_https(request: Request) -> bool:
    public = ctx_of(request).settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Secure
    whenever the dashboard is served over https."""
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict", secure=is_https(request), path="/")


def current_session(request: Request) -> Session:
    """The signed-in session, checked against its key on every request (a revoked key ends it)."""
    try:
        return sessions.principal_for_session(ctx_of(request), request.cookies.get(SESSION_COOKIE))
    except Unauthorized:
        raise SignInNeeded() from None


SessionDep = Annotated[Session, Depends(current_session)]


async def form_of(request: Request) -> dict[str, str]:
    """An urlencoded form body (one value per field, the last wins)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise Forbidden("That form is too large.", code="form_too_large")
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in parsed.items()}


async def checked_form(request: Request, session: SessionDep) -> dict[str, str]:
    """A form posted with this session's CSRF token; 403 (and nothing done) otherwise."""
    form = await form_of(request)
    if not sessions.csrf_ok(ctx_of(request), session.nonce, form.get("csrf")):
        raise Forbidden("This form's security token is missing or out of date (CSRF check). Reload the page and try again.",
                        code="csrf_failed")
    return form


FormDep = Annotated[dict[str, str], Depends(checked_form)]


def fragment(request: Request, template: str, session: Session | None = None, **values: Any) -> str:
    """A template rendered with what every page needs: who is signed in, the CSRF token, the settings."""
    ctx = ctx_of(request)
    principal = session.principal if session else None
    return templates.get_template(template).render(
        request=request,
        path=request.url.path,
        signed_in=principal is not None,
        key_id=principal.key_id if principal else None,
        role=principal.role.value if principal else None,
        is_admin=bool(principal and principal.has(Scope.ADMIN)),
        csrf=sessions.csrf_token(ctx, session.nonce) if session else "",
        prefect_ui_url=(ctx.settings.prefect_ui_url or "").rstrip("/"),
        q=quote,
        **values,
    )


def render(request: Request, template: str, session: Session | None = None, status: int = 200, **values: Any) -> HTMLResponse:
    """A page (see `fragment`), with the dashboard's security headers."""
    return HTMLResponse(fragment(request, template, session, **values), status_code=status, headers=PAGE_HEADERS)


def error_page(request: Request, exc: MultiMailError) -> HTMLResponse:
    session = None
    try:
        session = current_session(request)
    except SignInNeeded:
        pass
    return render(request, "error.html", session, status=exc.status, error=exc)


class DashboardRoute(APIRoute):
    """A dashboard route: a missing session redirects to sign-in; a service's error (404 outside
    the key's scope, 409 for a stale version, 403 for a failed CSRF check) becomes a page."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeeded:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                if request.method != "GET" or request.url.path.startswith("/events/"):
                    target = "/"
                return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
            except MultiMailError as exc:
                return await to_thread.run_sync(error_page, request, exc)  # it reads the session

        return guarded
