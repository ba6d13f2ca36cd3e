"""The approver's dashboard, served by `multimail serve` at `/` beside the API (which stays under
/v1, /docs, /health, /metrics...).

Server-rendered pages (Jinja2, autoescaped) with a few lines of plain JavaScript for live updates
(server-sent events) and keyboard shortcuts; the CSS and script are served from this package, so
it works offline and needs no build step. Humans sign in with an approver or admin API key
(services/dashboard_sessions.py); every page then acts through the API's own services with that
key's principal.

- web.py: templates, the session cookie, CSRF-checked forms, errors as pages.
- pages.py: sign-in, the queue, a held message and its decisions, inboxes, threads, audit,
  webhooks, mailbox settings.
- live.py: the server-sent event streams.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = "/static/dashboard"


def install(app: FastAPI) -> None:
    """Add the dashboard's pages and assets to the API app (none of them in the OpenAPI document)."""
    from . import live, pages

    app.mount(STATIC, StaticFiles(directory=str(files("multimail_server.dashboard") / "static")), name="dashboard-static")
    app.include_router(live.router)
    app.include_router(pages.router)
