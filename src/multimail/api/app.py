"""Assemble the FastAPI app: routers, error handlers, request limits. Nothing else happens here."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from .. import __version__
from ..services import Context
from . import errors
from .limits import RequestLimits
from .routes import admin, approvals, mailboxes, reading, sending


def create_app(ctx: Context) -> FastAPI:
    app = FastAPI(
        title="MultiMail",
        version=__version__,
        description="Email for AI agents, with human oversight. Every error has the shape "
        '`{"error": {"code", "message", "details"}}`.',
    )
    app.state.ctx = ctx
    errors.install(app)
    for module in (mailboxes, sending, approvals, reading, admin):
        app.include_router(module.router)

    @app.get("/health", tags=["health"], operation_id="health")
    def health() -> JSONResponse:
        """200 when the server can serve (the database answers)."""
        try:
            with ctx.store.read() as tx:
                tx.execute(text("SELECT 1"))
        except Exception as exc:
            return errors.error_response(503, "unavailable", f"Database unavailable: {type(exc).__name__}.")
        return JSONResponse({"status": "ok", "version": __version__})

    app.add_middleware(RequestLimits, max_bytes=ctx.settings.max_request_bytes)
    return app
