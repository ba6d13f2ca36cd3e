"""`multimail serve`: the API, inbound SMTP and the workers in one process.

Several processes may run against one PostgreSQL database; each runs its own delivery worker and
they share the outbox safely (leases, SKIP LOCKED).

Starting: both ports are taken before anything else happens (no admin key is created, no worker
started, for a server that cannot listen), and a port in use is one line, not a traceback.

Stopping (SIGTERM or SIGINT): the API stops accepting, every open long-poll is answered at once
with its current "not yet" answer (clients poll again, elsewhere or after the restart), the
workers finish their current item or leave it to its lease, and the process exits within a few
seconds, saying so in one log line.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import time

import uvicorn

from .api.app import create_app
from .config import Settings
from .dashboard import install as install_dashboard
from .mcp import http as mcp_http
from .services import Context
from .services.approval_worker import ApprovalWorker
from .services.delivery import DeliveryWorker
from .services.flow_run_waits import FlowRunResumeWorker
from .services.keys import ensure_first_admin_key
from .services.wait_hub import close_all as answer_open_long_polls
from .services.webhook_delivery import WebhookWorker
from .services.webhooks import ensure_prefect_events
from .smtp.server import start_smtp

log = logging.getLogger("multimail")

# How long a stop may take: HTTP connections still open after the long-polls were answered get
# this long to finish their request, and the workers as long to finish their current item.
SHUTDOWN_HTTP_SECONDS = 2
SHUTDOWN_WORKERS_SECONDS = 2.0


def _exit_cleanly(signum, frame) -> None:  # noqa: ANN001 - a signal handler's signature
    raise SystemExit(0)


class PortInUse(Exception):
    """A port this server must listen on is taken; the message is the one line to print."""


def _bind(host: str, port: int, what: str, flag: str) -> socket.socket:
    """A listening-ready socket on host:port, or PortInUse naming what and how to change it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"{what} port {port} on {host} is already in use: stop what listens there, "
                            f"or choose another with {flag}.") from None
        raise PortInUse(f"cannot listen on {host}:{port} for the {what}: {exc.strerror or exc}.") from None
    return sock


def reserve_ports(settings: Settings) -> tuple[socket.socket, socket.socket | None]:
    """Bind the API socket (kept, handed to uvicorn) and the SMTP socket (released just before
    aiosmtpd binds it), before anything is created."""
    http = _bind(settings.host, settings.http_port, "the API", "--http-port")
    smtp = None
    if settings.smtp_enabled:
        try:
            smtp = _bind(settings.host, settings.smtp_port, "the SMTP", "--smtp-port")
        except PortInUse:
            http.close()
            raise
    return http, smtp


class _Server(uvicorn.Server):
    """uvicorn, with open long-polls answered as soon as the stop signal arrives (uvicorn would
    otherwise wait for each to run out, up to a minute)."""

    def handle_exit(self, sig, frame) -> None:  # noqa: ANN001 - uvicorn's signature
        if not self.should_exit:
            self.answered_long_polls = answer_open_long_polls()
            self.stop_started = time.monotonic()
        super().handle_exit(sig, frame)


def serve(settings: Settings, *, announce=print) -> None:
    http_socket, smtp_socket = reserve_ports(settings)
    ctx = Context.from_settings(settings)
    first_key = ensure_first_admin_key(ctx)
    if first_key:
        announce("No API keys existed, so an admin key was created. It is shown only this once:")
        announce(f"  {first_key}")
    workers = [DeliveryWorker(ctx), WebhookWorker(ctx), ApprovalWorker(ctx)]
    if ctx.prefect_api() is not None:
        workers.append(FlowRunResumeWorker(ctx, ctx.prefect_api()))
        announce(f"Prefect API at {settings.prefect_api_url}: paused flow runs are resumed from here")
        if settings.prefect_events:
            ensure_prefect_events(ctx)
            announce("Every event is also emitted into Prefect's event stream")
    elif settings.prefect_events:
        announce("--prefect-events needs --prefect-api-url; no events are emitted to Prefect")
    for worker in workers:
        worker.start()
    smtp = None
    if smtp_socket is not None:
        smtp_socket.close()
        smtp = start_smtp(ctx, host=settings.host, port=settings.smtp_port)
        announce(f"SMTP on {settings.host}:{settings.smtp_port}")
    announce(f"API on http://{settings.host}:{settings.http_port} (data: {settings.resolved_database_url().split('@')[-1]})")
    # keep-alive above clients' pool expiry (httpx: 5 s), so a client never sends on a
    # connection the server is closing at that moment (a reset on a non-idempotent call)
    app = create_app(ctx)
    mcp_http.mount(app, ctx)  # /mcp: the MCP server as streamable HTTP, behind the same API keys
    install_dashboard(app)  # the approvers' pages at / (the API stays under /v1)
    app.state.worker_liveness = lambda: {w.name: w.alive for w in workers}  # GET /ready asks
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_keep_alive=65,
                            timeout_graceful_shutdown=int(SHUTDOWN_HTTP_SECONDS))
    server = _Server(config)
    # uvicorn re-raises the stop signal once it has shut down; with the default SIGTERM handler
    # that would kill the process before the workers and the SMTP server are stopped below.
    previous = signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        server.run(sockets=[http_socket])
    except SystemExit:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if smtp is not None:
            smtp.stop()
        for worker in workers:
            worker.request_stop()
        deadline = time.monotonic() + SHUTDOWN_WORKERS_SECONDS
        for worker in workers:
            worker.stop(timeout=max(0.0, deadline - time.monotonic()))
        still = [w.name for w in workers if w.alive]
        ctx.store.dispose()
        if getattr(server, "stop_started", None) is not None:
            log.info("stopped in %.1f s: %d open long-polls answered, workers %s", time.monotonic() - server.stop_started,
                     getattr(server, "answered_long_polls", 0),
                     "stopped" if not still else f"stopped except {', '.join(still)} (their leases expire)")
