"""One-click decision links from decide_email messages, and approval links from approvers' notices
(no API key: the link is the credential).

`GET /d/{token}` only shows a confirmation page with a POST form (mail scanners and link
previews fetch links; a GET never decides). `POST /d/{token}` records the decision once:
200 when recorded, 409 when the question was already answered by link, 410 when the link has
expired (or the question never went out), 404 for a link that is not genuine.

`GET /a/{token}` (services/approval_notices.py) shows the held message as it will go out and a
form to approve, or to reject with a reason; only `POST /a/{token}` (form field `action`) decides,
once: 200 when approved / recorded (N of M) / rejected, 409 when the link was used, the message
was decided meanwhile or changed since the link was sent, 410 when it expired, 404 when not genuine.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from ...core.web_headers import private_page_headers
from ...services import approval_links as approval_notices
from ...services import decision_links as svc
from ..deps import CtxDep

router = APIRouter(tags=["decisions"])

# The page is a Jinja2 template, autoescaped: the question and the options are the agent's text.
_TEMPLATES = Environment(loader=PackageLoader("multimail_server.api", "templates"), autoescape=True,
                         keep_trailing_newline=True, undefined=StrictUndefined)

# A link's state -> the page's title and HTTP status; any other state is an open link (confirm).
_PAGES = {
    "invalid": ("Link not valid", 404),
    "used": ("Already answered", 409),
    "expired": ("Link expired", 410),
    "closed": ("Question withdrawn", 410),
    "recorded": ("Decision recorded", 200),
}
_CONFIRM = ("Confirm your answer", 200)

_HEADERS = private_page_headers("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
                                noindex=True)


def _answer(state: svc.LinkState, token: str) -> HTMLResponse:
    """The page for a link in `state`: what happened to it, and for an open link the form whose
    POST decides (a GET never does)."""
    page = state.status if state.status in _PAGES else "confirm"
    title, status = _PAGES.get(state.status, _CONFIRM)
    html = _TEMPLATES.get_template("decision_link.html").render(
        page=page, title=title, question=state.question, decision=state.decision or "", option=state.option or "",
        token=token)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


@router.get("/d/{token}", response_class=HTMLResponse, include_in_schema=False)
def confirm_page(token: str, ctx: CtxDep) -> HTMLResponse:
    """Shows the option and a confirmation form; decides nothing."""
    return _answer(svc.inspect(ctx, token), token)


@router.post("/d/{token}", response_class=HTMLResponse, include_in_schema=False)
def decide(token: str, ctx: CtxDep) -> HTMLResponse:
    """Records the decision (once)."""
    return _answer(svc.use(ctx, token), token)


# An approval link's state -> the page's title and HTTP status.
_APPROVAL_PAGES = {
    "invalid": ("Link not valid", 404),
    "used": ("Link already used", 409),
    "decided": ("Already decided", 409),
    "stale": ("The message changed", 409),
    "suppressed": ("Recipient suppressed", 409),
    "expired": ("Link expired", 410),
    "approved": ("Approved", 200),
    "approval_recorded": ("Approval recorded", 200),
    "rejected": ("Rejected", 200),
    "open": ("Approve this message?", 200),
}


def _approval_answer(state: approval_notices.ApprovalLinkState, token: str) -> HTMLResponse:
    title, status = _APPROVAL_PAGES.get(state.status, _APPROVAL_PAGES["invalid"])
    html = _TEMPLATES.get_template("approval_link.html").render(
        page=state.status if state.status in _APPROVAL_PAGES else "invalid", title=title, state=state, token=token)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


@router.get("/a/{token}", response_class=HTMLResponse, include_in_schema=False)
def approval_page(token: str, ctx: CtxDep) -> HTMLResponse:
    """Shows the held message and the approve / reject form; decides nothing."""
    return _approval_answer(approval_notices.inspect_link(ctx, token), token)


@router.post("/a/{token}", response_class=HTMLResponse, include_in_schema=False)
async def approval_decide(token: str, request: Request, ctx: CtxDep) -> HTMLResponse:
    """Approves or rejects (form field `action`: approve or reject; `reason` for a rejection), once."""
    form = parse_qs((await request.body())[:10_000].decode("utf-8", "replace"))
    action = (form.get("action") or [""])[0]
    reason = (form.get("reason") or [""])[0]
    from starlette.concurrency import run_in_threadpool

    state = await run_in_threadpool(approval_notices.use_link, ctx, token, action=action, reason=reason)
    return _approval_answer(state, token)
