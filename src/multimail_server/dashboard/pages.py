"""The dashboard's pages and forms. Every read and every decision goes through the same service
functions as the API, with the signed-in key's principal, so a page shows exactly what the key's
scope allows there and refuses what the API refuses (with the same message)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote, urlencode

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..core.access import Scope
from ..core.errors import BadRequest, Forbidden, MultiMailError, NotFound
from ..core.limits import TooManyRequests
from ..core.oversight import Mode
from ..core.search_query import InvalidQuery
from ..core.web_headers import private_page_headers
from ..services import approvals as approvals_svc
from ..services import audit as audit_svc
from ..services import audit_chain
from ..services import dashboard_queries as queries
from ..services import dashboard_sessions as sessions
from ..services import mailboxes as mailboxes_svc
from ..services import outbound_pause as pause_svc
from ..services import reading as reading_svc
from ..services import webhooks as webhooks_svc
from ..services.rate_limits import RateLimits
from .web import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    DashboardRoute,
    FormDep,
    SessionDep,
    SignInNeeded,
    ctx_of,
    current_session,
    form_of,
    render,
    set_cookie,
)

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

MODES = [m.value for m in Mode]
DONE = {"approved": "Approved", "edited": "Edited and approved", "rejected": "Rejected", "recorded": "Approval recorded"}


def _safe_next(value: str | None) -> str:
    """Only a path of this site, so sign-in is no open redirect: never //host, a scheme, a
    backslash, or whitespace and control characters (browsers drop tabs and newlines from URLs,
    so a slash, a tab and "/evil.test" would become "//evil.test")."""
    if (not value or not value.startswith("/") or value.startswith("//") or "\\" in value
            or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value)):
        return "/"
    return value


# -- signing in and out -----------------------------------------------------------------------------

def _login_page(request: Request, status: int = 200, error: str | None = None, next_: str = "/",
                retry: bool = False) -> HTMLResponse:
    nonce = secrets.token_urlsafe(18)
    page = render(request, "login.html", status=status, error=error, next=_safe_next(next_), retry=retry,
                  login_csrf=sessions.csrf_token(ctx_of(request), "login:" + nonce))
    set_cookie(request, page, LOGIN_COOKIE, nonce, max_age=3600)
    return page


@router.get("/login")
def login_form(request: Request, next: str = "/", r: int = 0) -> Response:
    """The sign-in form, or straight on for a signed-in browser. `r`: the page's script asks
    once more from this site when a link in an email (another site) brought the browser here,
    since a SameSite=Strict cookie is not sent on such a navigation."""
    try:
        current_session(request)
        return RedirectResponse(_safe_next(next), status_code=303)
    except SignInNeeded:
        return _login_page(request, next_=next, retry=not r)


def _limits(request: Request) -> RateLimits:
    """The API's rate limits (api/ratelimit.py installs them on the app): sign-in spends the same
    wrong-key budget per IP as a wrong API key, so keys cannot be guessed here either."""
    return request.app.state.rate_limits


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login")
async def login(request: Request) -> Response:
    form = await form_of(request)
    ctx = ctx_of(request)
    next_ = form.get("next", "/")
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not sessions.csrf_ok(ctx, "login:" + nonce if nonce else None, form.get("csrf")):
        return _login_page(request, 403, "The sign-in form was out of date (CSRF check); please try again.", next_)
    try:  # under the API's wrong-key budget per IP (services/keys.authenticate_from)
        session, cookie = await to_thread.run_sync(
            lambda: sessions.sign_in(ctx, form.get("api_key", ""), limits=_limits(request), ip=_ip(request)))
    except TooManyRequests as exc:
        return _login_page(request, 429, f"Too many wrong keys from this address; try again in {exc.retry_after} s.", next_)
    except MultiMailError as exc:
        return _login_page(request, exc.status, exc.message, next_)
    response = RedirectResponse(_safe_next(next_), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, cookie, max_age=sessions.SESSION_SECONDS)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, form: FormDep) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- the queue --------------------------------------------------------------------------------------

def queue_values(request: Request, session, mailbox: str | None, flow_run: str | None) -> dict[str, Any]:
    ctx = ctx_of(request)
    answer = queries.queue(ctx, principal=session.principal, mailbox=mailbox or None, flow_run_id=flow_run or None)
    return {"held": answer["held"], "decided": answer["decided"], "signature": queries.queue_signature(answer)}


@router.get("/")
def queue_page(request: Request, session: SessionDep, mailbox: str = "", flow_run: str = "", done: str = "",
               id: str = "", more: int = 0) -> HTMLResponse:
    ctx = ctx_of(request)
    boxes = mailboxes_svc.list_mailboxes(ctx, principal=session.principal)
    values = queue_values(request, session, mailbox, flow_run)
    filters = urlencode({k: v for k, v in {"mailbox": mailbox, "flow_run": flow_run}.items() if v})
    paused = pause_svc.list_pauses(ctx, principal=session.principal)["paused"]
    return render(request, "queue.html", session, mailboxes=boxes, mailbox=mailbox, flow_run=flow_run, filters=filters,
                  done=DONE.get(done), done_id=id, more=more if done == "recorded" else 0, paused=paused, **values)


# -- one held message -------------------------------------------------------------------------------

def _message_page(request: Request, session, message_id: str, *, status: int = 200, error: str | None = None,
                  remote: bool = False) -> HTMLResponse:
    ctx = ctx_of(request)
    item = queries.held_message(ctx, principal=session.principal, message_id=message_id)
    thread = reading_svc.get_thread(ctx, principal=session.principal, thread_id=item["thread_id"])
    return render(request, "message.html", session, status=status, m=item, thread=thread, error=error, remote=remote)


@router.get("/messages/{message_id}")
def message_page(request: Request, session: SessionDep, message_id: str, remote: int = 0) -> HTMLResponse:
    return _message_page(request, session, message_id, remote=bool(remote))


@router.get("/messages/{message_id}/html")
def message_html(request: Request, session: SessionDep, message_id: str, remote: int = 0) -> HTMLResponse:
    """The HTML part, for the sandboxed frame: a document no script runs in (CSP and the
    frame's sandbox), fetching nothing unless the approver asked for remote content."""
    html = queries.message_html(ctx_of(request), principal=session.principal, message_id=message_id, remote=bool(remote))
    images = "* data:" if remote else "data:"
    csp = f"default-src 'none'; img-src {images}; style-src 'unsafe-inline'; sandbox; frame-ancestors 'self'; form-action 'none'"
    doc = ('<!DOCTYPE html><html><head><meta charset="utf-8"><base target="_blank">'
           '<style>body{font-family:system-ui,sans-serif;margin:.75rem;color:#111;background:#fff}'
           'img{max-width:100%}</style></head><body>' + (html or "") + "</body></html>")
    return HTMLResponse(doc, headers=private_page_headers(csp, frame_options="SAMEORIGIN"))


@router.get("/messages/{message_id}/attachments/{attachment_id}")
def attachment(request: Request, session: SessionDep, message_id: str, attachment_id: str) -> Response:
    att = reading_svc.get_attachment(ctx_of(request), principal=session.principal, message_id=message_id,
                                     attachment_id=attachment_id)
    name = quote(att["filename"] or "attachment")
    return Response(att["content"], media_type="application/octet-stream",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}", "X-Content-Type-Options": "nosniff",
                             "Cache-Control": "no-store"})


def _decided(request: Request, session, message_id: str, form: dict[str, str], action) -> Response:
    """Run a decision; back to the queue on success, the message page with the reason otherwise.
    An approval that was counted but is not yet enough (N of M) says how many more are needed."""
    try:
        item = action()
    except MultiMailError as exc:
        if exc.code == "content_changed":
            message = ("This message changed since you opened it, so that approval was refused. "
                       "Below is the version that would go out now; review it again.")
        else:
            message = exc.message
        try:
            return _message_page(request, session, message_id, status=exc.status, error=message)
        except NotFound:
            raise exc from None
    done = form["_done"]
    more = ""
    if done in ("approved", "edited") and item.get("status") == "pending":
        done = "recorded"
        more = f"&more={max(1, (item.get('approvals_required') or 1) - len(item.get('approvals') or []))}"
    back = _safe_next(form.get("back") or "/")
    sep = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{sep}done={done}&id={quote(message_id)}{more}", status_code=303)


@router.post("/messages/{message_id}/approve")
def approve(request: Request, session: SessionDep, form: FormDep, message_id: str) -> Response:
    form["_done"] = "approved"
    return _decided(request, session, message_id, form, lambda: approvals_svc.approve_message(
        ctx_of(request), principal=session.principal, message_id=message_id, note=form.get("note") or None,
        content_hash=form.get("content_hash") or _missing("content_hash")))


def _addresses(value: str | None) -> list[str] | None:
    """Recipients typed into a form, one per line or separated by commas outside quotes and
    angle brackets ("Doe, Jane" <jane@x.test> stays one); None when the field was not sent."""
    if value is None:
        return None
    out, part, quoted, angle = [], "", False, False
    for ch in value.replace("\r", "").replace("\n", ","):
        if ch == '"':
            quoted = not quoted
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        if ch == "," and not quoted and not angle:
            out.append(part)
            part = ""
        else:
            part += ch
    out.append(part)
    return [a.strip() for a in out if a.strip()]


@router.post("/messages/{message_id}/edit")
def edit_and_approve(request: Request, session: SessionDep, form: FormDep, message_id: str) -> Response:
    """Edit then approve (subject, body, recipients), in one approval (approve_message with the
    edits): audited with a diff of what changed, and bound to the version the approver edited."""
    form["_done"] = "edited"
    return _decided(request, session, message_id, form, lambda: approvals_svc.approve_message(
        ctx_of(request), principal=session.principal, message_id=message_id, note=form.get("note") or None,
        subject=form.get("subject"), body=form.get("body"), to=_addresses(form.get("to")), cc=_addresses(form.get("cc")),
        bcc=_addresses(form.get("bcc")), content_hash=form.get("content_hash") or _missing("content_hash")))


@router.post("/messages/{message_id}/reject")
def reject(request: Request, session: SessionDep, form: FormDep, message_id: str) -> Response:
    form["_done"] = "rejected"
    reason = (form.get("reason") or "").strip()
    return _decided(request, session, message_id, form, lambda: approvals_svc.reject_message(
        ctx_of(request), principal=session.principal, message_id=message_id, reason=reason or _missing("reason")))


def _missing(field: str) -> str:
    words = {"content_hash": "the version you reviewed (reload the page)", "reason": "a reason for the rejection"}
    raise BadRequest(f"Give {words.get(field, field)}.", code="missing_field", details={"field": field})


# -- inboxes and threads ----------------------------------------------------------------------------

@router.get("/inboxes")
def inboxes(request: Request, session: SessionDep, mailbox: str = "", cursor: str = "", q: str = "") -> HTMLResponse:
    """A mailbox's inbox, or with `q` what the search query finds in it (the API's language). A
    query that is not valid syntax shows why on the same page, the box still holding it."""
    ctx = ctx_of(request)
    boxes = mailboxes_svc.list_mailboxes(ctx, principal=session.principal)
    chosen = mailbox or (boxes[0]["address"] if boxes else "")
    page, error, status = None, None, 200
    if chosen:
        try:
            page = reading_svc.check_inbox(ctx, principal=session.principal, mailbox=chosen, cursor=cursor or None,
                                           query=q or None)
        except InvalidQuery as exc:
            error, status = exc, exc.status
    more = urlencode({"mailbox": chosen, **({"q": q} if q else {}), "cursor": page["next_cursor"]}) \
        if page and page["next_cursor"] else None
    return render(request, "inboxes.html", session, status=status, mailboxes=boxes, mailbox=chosen, page=page, query=q,
                  error=error, more=more)


@router.get("/threads/{thread_id}")
def thread_page(request: Request, session: SessionDep, thread_id: str) -> HTMLResponse:
    thread = queries.thread(ctx_of(request), principal=session.principal, thread_id=thread_id)
    return render(request, "thread.html", session, thread=thread)


# -- audit, webhooks, mailbox settings ---------------------------------------------------------------

@router.get("/audit")
def audit_page(request: Request, session: SessionDep, mailbox: str = "", action: str = "", actor: str = "",
               message_id: str = "", cursor: str = "") -> HTMLResponse:
    filters = {"mailbox": mailbox, "action": action, "actor": actor, "message_id": message_id}
    page = audit_svc.audit_log(ctx_of(request), principal=session.principal, cursor=cursor or None, mailbox=mailbox or None,
                               action=action or None, actor=actor or None, message_id=message_id or None)
    more = urlencode({**{k: v for k, v in filters.items() if v}, "cursor": page["next_cursor"]}) if page["next_cursor"] else None
    return render(request, "audit.html", session, page=page, filters=filters, more=more, verified=None)


@router.post("/audit/verify")
def verify_chain(request: Request, session: SessionDep, form: FormDep) -> HTMLResponse:
    if not _admin(session):
        raise Forbidden("Verifying the whole audit chain needs an admin key.", code="insufficient_scope")
    result = audit_chain.verify(ctx_of(request))
    page = audit_svc.audit_log(ctx_of(request), principal=session.principal)
    return render(request, "audit.html", session, page=page, filters={"mailbox": "", "action": "", "actor": "", "message_id": ""}, more=None,
                  verified=result)


def _admin(session) -> bool:
    return session.principal.has(Scope.ADMIN)


@router.get("/webhooks")
def webhooks_page(request: Request, session: SessionDep) -> HTMLResponse:
    hooks = webhooks_svc.list_webhooks(ctx_of(request), principal=session.principal)["webhooks"]
    return render(request, "webhooks.html", session, webhooks=hooks)


@router.get("/webhooks/{webhook_id}")
def webhook_deliveries(request: Request, session: SessionDep, webhook_id: str, status: str = "", cursor: str = "",
                       done: str = "") -> HTMLResponse:
    ctx = ctx_of(request)
    hooks = webhooks_svc.list_webhooks(ctx, principal=session.principal)["webhooks"]
    hook = next((h for h in hooks if h["webhook_id"] == webhook_id), None)
    if hook is None:
        raise NotFound(f"No webhook {webhook_id!r}.", code="webhook_not_found")
    page = webhooks_svc.list_webhook_deliveries(ctx, principal=session.principal, webhook_id=webhook_id,
                                                status=status or None, cursor=cursor or None)
    return render(request, "deliveries.html", session, hook=hook, page=page, filter_status=status, done=done)


@router.post("/webhooks/{webhook_id}/redeliver")
def redeliver(request: Request, session: SessionDep, form: FormDep, webhook_id: str) -> Response:
    result = webhooks_svc.redeliver(ctx_of(request), principal=session.principal, delivery_id=form.get("delivery_id") or None)
    return RedirectResponse(f"/webhooks/{quote(webhook_id)}?done={result['redelivered']}", status_code=303)


def _mailboxes_page(request: Request, session, *, status: int = 200, saved: str = "", error: str | None = None,
                    error_mailbox: str = "", form: dict[str, str] | None = None) -> HTMLResponse:
    ctx = ctx_of(request)
    boxes = mailboxes_svc.list_mailboxes(ctx, principal=session.principal)
    paused = pause_svc.list_pauses(ctx, principal=session.principal)["paused"]
    return render(request, "mailboxes.html", session, status=status, mailboxes=boxes, modes=MODES, saved=saved,
                  error=error, error_mailbox=error_mailbox, form=form or {}, paused=paused,
                  paused_boxes={p["mailbox"] for p in paused if p["mailbox"]},
                  all_paused=next((p for p in paused if p["all_mailboxes"]), None))


@router.get("/mailboxes")
def mailboxes_page(request: Request, session: SessionDep, saved: str = "") -> HTMLResponse:
    return _mailboxes_page(request, session, saved=saved)


@router.post("/mailboxes/settings")
def mailbox_settings(request: Request, session: SessionDep, form: FormDep) -> Response:
    box = mailboxes_svc.update_mailbox(ctx_of(request), principal=session.principal, mailbox=form.get("mailbox", ""),
                                       oversight_mode=form.get("oversight_mode") or None,
                                       min_oversight=form.get("min_oversight") or None)
    return RedirectResponse(f"/mailboxes?saved={quote(box['address'])}", status_code=303)


def _number(value: str | None) -> Any:
    """A number typed into a form; anything else is handed on as typed, for the service to refuse
    with its own message."""
    value = (value or "").strip()
    return int(value) if value.isdigit() else value


@router.post("/mailboxes/policy")
def mailbox_policy(request: Request, session: SessionDep, form: FormDep) -> Response:
    """A mailbox's approval policy (approvers, N of M, timeout and what then, escalation, digest,
    quiet hours, contacts only) and retention (days bodies and attachments are kept) through
    update_mailbox: the service's validation error is shown on the page, with what was typed, and
    changes nothing."""
    mailbox = form.get("mailbox", "")
    start, end, zone = (form.get(k, "").strip() for k in ("quiet_start", "quiet_end", "quiet_timezone"))
    quiet: dict[str, str] | str = {"start": start, "end": end, "timezone": zone} if start or end or zone else "off"
    try:
        box = mailboxes_svc.update_mailbox(
            ctx_of(request), principal=session.principal, mailbox=mailbox,
            approvers=_addresses(form.get("approvers")) or [], approvals_required=_number(form.get("approvals_required") or "1"),
            approval_timeout=_number(form.get("approval_timeout") or "0"), on_timeout=form.get("on_timeout") or "reject",
            escalate_to=_addresses(form.get("escalate_to")) or [], digest=form.get("digest") or "off", quiet_hours=quiet,
            contacts_only=form.get("contacts_only") == "on",
            retain_bodies_days=_number(form.get("retain_bodies_days") or "0"),
            retain_attachments_days=_number(form.get("retain_attachments_days") or "0"))
    except BadRequest as exc:
        return _mailboxes_page(request, session, status=exc.status, error=exc.message, error_mailbox=mailbox, form=form)
    return RedirectResponse(f"/mailboxes?saved={quote(box['address'])}", status_code=303)


@router.post("/outbound/pause")
def pause(request: Request, session: SessionDep, form: FormDep) -> Response:
    """The kill switch: no outbound mail of this mailbox (or, without one, of any) is handed over
    until resumed; held and queued mail waits (services/outbound_pause.py)."""
    pause_svc.pause_outbound(ctx_of(request), principal=session.principal, mailbox=form.get("mailbox") or None,
                             reason=form.get("reason") or None)
    return RedirectResponse("/mailboxes", status_code=303)


@router.post("/outbound/resume")
def resume(request: Request, session: SessionDep, form: FormDep) -> Response:
    pause_svc.resume_outbound(ctx_of(request), principal=session.principal, mailbox=form.get("mailbox") or None)
    return RedirectResponse("/mailboxes", status_code=303)
