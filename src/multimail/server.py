"""`multimail serve`: the API, inbound SMTP and the workers in one process.

Several processes may run against one PostgreSQL database; each runs its own delivery worker and
they share the outbox safely (leases, SKIP LOCKED).
"""

from __future__ import annotations

import logging

import uvicorn

from .api.app import create_app
from .config import Settings
from .smtp.server import start_smtp
from .services import Context
from .services.delivery import DeliveryWorker
from .services.flow_run_waits import FlowRunResumeWorker
from .services.webhooks import ensure_prefect_events
from .services.keys import ensure_first_admin_key
from .services.webhook_delivery import WebhookWorker

log = logging.getLogger("multimail")


def serve(settings: Settings, *, announce=print) -> None:
    ctx = Context.from_settings(settings)
    first_key = ensure_first_admin_key(ctx)
    if first_key:
        announce("No API keys existed, so an admin key was created. It is shown only this once:")
        announce(f"  {first_key}")
    worker = DeliveryWorker(ctx)
    worker.start()
    webhook_worker = WebhookWorker(ctx)
    webhook_worker.start()
    resume_worker = None
    if ctx.prefect_api() is not None:
        resume_worker = FlowRunResumeWorker(ctx, ctx.prefect_api())
        resume_worker.start()
        announce(f"Prefect API at {settings.prefect_api_url}: paused flow runs are resumed from here")
        if settings.prefect_events:
            ensure_prefect_events(ctx)
            announce("Every event is also emitted into Prefect's event stream")
    elif settings.prefect_events:
        announce("--prefect-events needs --prefect-api-url; no events are emitted to Prefect")
    smtp = None
    if settings.smtp_enabled:
        smtp = start_smtp(ctx, host=settings.host, port=settings.smtp_port)
        announce(f"SMTP on {settings.host}:{settings.smtp_port}")
    announce(f"API on http://{settings.host}:{settings.http_port} (data: {settings.resolved_database_url().split('@')[-1]})")
    app = create_app(ctx)
    try:
        # keep-alive above clients' pool expiry (httpx: 5 s), so a client never sends on a
        # connection the server is closing at that moment (a reset on a non-idempotent call)
        uvicorn.run(app, host=settings.host, port=settings.http_port, log_level="warning", access_log=False,
                    timeout_keep_alive=65)
    finally:
        if smtp is not None:
            smtp.stop()
        worker.stop()
        webhook_worker.stop()
        if resume_worker is not None:
            resume_worker.stop()
        ctx.store.dispose()
