"""One-click decision links from decide_email messages (no API key: the link is the credential).

`GET /d/{token}` only shows a confirmation page with a POST form (mail scanners and link
previews fetch links; a GET never decides). `POST /d/{token}` records the decision once:
200 when recorded, 409 when the question was already answered by link, 410 when the link has
expired (or the question never went out), 404 for a link that is not genuine.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from ...services import decision_links as svc
from ..deps import CtxDep

router = APIRouter(tags=["decisions"])

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow"><meta name="referrer" content="no-referrer">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}
button{{font-size:1.1rem;padding:.5rem 1.2rem}}.q{{white-space:pre-wrap;border-left:3px solid #ccc;padding-left:.8rem}}</style>
</head><body><h1>{title}</h1>{body}</body></html>
"""

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
}


def _page(title: str, body: str, status: int) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status, headers=_HEADERS)


def _question(state: svc.LinkState) -> str:
    return f'<p class="q">{escape(state.question or "")}</p>' if state.question else ""


def _answer(state: svc.LinkState, token: str) -> HTMLResponse:
    if state.status == "invalid":
        return _page("Link not valid", "<p>This decision link is not valid.</p>", 404)
    if state.status == "used":
        return _page("Already answered",
                     f"{_question(state)}<p>This question was already answered with "
                     f"<strong>{escape(state.decision or '')}</strong>. Each link works once.</p>", 409)
    if state.status == "expired":
        return _page("Link expired", f"{_question(state)}<p>This decision link has expired. Reply to the email instead.</p>", 410)
    if state.status == "closed":
        return _page("Question withdrawn", f"{_question(state)}<p>This question is no longer open.</p>", 410)
    if state.status == "recorded":
        return _page("Decision recorded", f"{_question(state)}<p>Your answer <strong>{escape(state.option or '')}</strong> "
                                          "was recorded. You can close this page.</p>", 200)
    # open: ask for confirmation
    return _page(
        "Confirm your answer",
        f"{_question(state)}<p>Answer <strong>{escape(state.option or '')}</strong>?</p>"
        f'<form method="post" action="/d/{escape(token, quote=True)}"><button type="submit">'
        f"Confirm &ldquo;{escape(state.option or '')}&rdquo;</button></form>",
        200,
    )


@router.get("/d/{token}", response_class=HTMLResponse, include_in_schema=False)
def confirm_page(token: str, ctx: CtxDep) -> HTMLResponse:
    """Shows the option and a confirmation form; decides nothing."""
    return _answer(svc.inspect(ctx, token), token)


@router.post("/d/{token}", response_class=HTMLResponse, include_in_schema=False)
def decide(token: str, ctx: CtxDep) -> HTMLResponse:
    """Records the decision (once)."""
    return _answer(svc.use(ctx, token), token)
