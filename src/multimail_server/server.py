"""`multimail serve`: the API, inbound SMTP and the workers, in one process or split by role.

Roles (`--role api|smtp|worker|all`, several allowed): api serves the HTTP API and its long-polls;
smtp the inbound SMTP receiver; worker the outbox delivery, webhook delivery and the other
periodic jobs. Every process listens on its HTTP port for GET /health, /ready and /metrics (so a
worker can be probed and scraped); only an api process serves the rest of the API there.

Several processes: on PostgreSQL any number of each role share one database. Workers claim rows
with a lease and `FOR UPDATE SKIP LOCKED`, so no two take the same row; each process has one
LISTEN connection (store/notify.py), so a commit anywhere wakes the workers and long-polls of all
processes at once, with their polls as the fallback. On SQLite several processes may share the
file on one machine (api and smtp processes, CLI verbs), but only ONE of them may run the worker
role: every claim and delivery is a write, SQLite has one writer at a time, and a second worker
process would only queue on that lock (SQLite's busy handler polls with sleeps) instead of adding
throughput; it is refused at start, naming the process that holds the role.

Starting: both ports are taken before anything else happens (no admin key is created, no worker
started, for a server that cannot listen), and a port in use is one line, not a traceback.

Stopping (SIGTERM or SIGINT): the API stops accepting, every open long-poll is answered at once
with its current "not yet" answer (clients poll again, elsewhere or after the restart), the
workers finish their current item or leave it to its lease, and the process exits within a few
seconds, saying so in one log line.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import signal
import socket
import time

import uvicorn

from .api.app import create_app
from .api.errors import error_response
from .config import Settings
from .dashboard import install as install_dashboard
from .mcp import lazy as mcp_lazy
from .services import Context
from .services.approval_worker import ApprovalWorker
from .services.delivery import DeliveryWorker
from .services.flow_run_waits import FlowRunResumeWorker
from .services.keys import ensure_first_admin_key
from .services.metrics import metrics_for
from .services.retention import RetentionWorker
from .services.wait_hub import close_all as answer_open_long_polls
from .services.webhook_delivery import WebhookWorker
from .services.webhooks import ensure_prefect_events
from .smtp.server import start_smtp
from .store.engine import sqlite_file_of
from .store.notify import wait_connected

log = logging.getLogger("multimail")

# How long a stop may take: HTTP connections still open after the long-polls were answered get
# this long to finish their request, and the workers as long to finish their current item.
SHUTDOWN_HTTP_SECONDS = 2
SHUTDOWN_WORKERS_SECONDS = 2.0


def _exit_cleanly(signum, frame) -> None:  # noqa: ANN001 - a signal handler's signature
    raise SystemExit(0)


class PortInUse(Exception):
    """A port this server must listen on is taken; the message is the one line to print."""


class RoleRefused(Exception):
    """This combination of roles and database cannot run safely; the message says why and what to do."""


OPS_PATHS = frozenset({"/health", "/ready", "/metrics"})  # served by every process, whatever its roles


def ops_only(app, roles: frozenset[str]):  # noqa: ANN001, ANN201 - an ASGI app in, one out
    """The app of a process without the api role: /health, /ready and /metrics, and a clear
    404 for everything else (never a half-served API next to a worker)."""
    runs = ", ".join(sorted(roles))

    async def asgi(scope, receive, send):  # noqa: ANN001, ANN202 - the ASGI signature
        if scope["type"] == "http" and scope["path"] not in OPS_PATHS:
            response = error_response(404, "role_not_served", f"This process runs the roles {runs}, not api: "
                                      "send API requests to a process started with --role api.", {"roles": sorted(roles)})
            await response(scope, receive, send)
            return
        await app(scope, receive, send)

    return asgi


def claim_sqlite_worker_role(settings: Settings):  # noqa: ANN201 - the open lock file, kept until exit
    """SQLite: take the database's one worker role (an flock beside it, released when the process
    ends, however it ends), or RoleRefused naming the process that has it. None on PostgreSQL."""
    database = sqlite_file_of(settings.resolved_database_url())
    if database is None:
        return None
    database.parent.mkdir(parents=True, exist_ok=True)
    fh = open(f"{database}.worker.lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise RoleRefused(f"the worker role already runs against this SQLite database ({holder}). SQLite has one "
                          "writer at a time, so one worker process per database: start this one with --role api "
                          "and/or smtp, or use PostgreSQL (--database-url) to run several workers.") from None
    fh.truncate(0)
    fh.write(f"pid {os.getpid()}\n")
    fh.flush()
    return fh


def _bind(host: str, port: int, what: str, flag: str, *, reuse_port: bool = False) -> socket.socket:
    """A listening-ready socket on host:port, or PortInUse naming what and how to change it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        # Every process bound this way to the same address and port gets its own accept queue, and
        # the kernel spreads new connections among them: API processes scale out on one port
        # without a proxy in front. A process bound without it still gets "already in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
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
    http = _bind(settings.host, settings.http_port, "the API", "--http-port", reuse_port=settings.reuse_port)
    smtp = None
    if settings.smtp_enabled and "smtp" in settings.roles:
        try:
            smtp = _bind(settings.host, settings.smtp_port, "the SMTP", "--smtp-port")
        except PortInUse:
            http.close()
            raise
    return http, smtp


class RolesCollector:
    """GET /metrics: `multimail_role{role}` is 1 for each role this process runs, and
    `multimail_notify_listening` whether its LISTEN connection is up (PostgreSQL only)."""

    def __init__(self, roles: frozenset[str], listener):  # noqa: ANN001 - a store.notify.Listener or None
        self.roles, self.listener = roles, listener

    def collect(self):  # noqa: ANN201 - prometheus_client's collector protocol
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily("multimail_role", "1 for each role this process runs (api, smtp, worker).", labels=["role"])
        for role in ("api", "smtp", "worker"):
            family.add_metric([role], 1.0 if role in self.roles else 0.0)
        yield family
        if self.listener is not None:
            yield GaugeMetricFamily("multimail_notify_listening", "1 while this process's PostgreSQL LISTEN connection is up.",
                                    value=1.0 if self.listener.connected else 0.0)
            yield GaugeMetricFamily("multimail_notify_received", "Wake-ups received from other processes' commits.",
                                    value=float(self.listener.received))


class _Server(uvicorn.Server):
    """uvicorn, with open long-polls answered as soon as the stop signal arrives (uvicorn would
    otherwise wait for each to run out, up to a minute)."""

    def handle_exit(self, sig, frame) -> None:  # noqa: ANN001 - uvicorn's signature
        if not self.should_exit:
            self.answered_long_polls = answer_open_long_polls()
            self.stop_started = time.monotonic()
        super().handle_exit(sig, frame)


def serve(settings: Settings, *, announce=print) -> None:
    roles = settings.roles
    worker_lock = claim_sqlite_worker_role(settings) if "worker" in roles else None
    http_socket, smtp_socket = reserve_ports(settings)
    ctx = Context.from_settings(settings)  # migrates first: one process at a time (store/migrate.py)
    listener = ctx.store.listen()  # PostgreSQL: other processes' commits wake this one's hooks
    if listener is not None and not wait_connected(listener, 5.0):
        log.warning("LISTEN connection not up yet; other processes' commits are seen by the fallback polls meanwhile")
    if "api" in roles:
        first_key = ensure_first_admin_key(ctx)
        if first_key:
            announce("No API keys existed, so an admin key was created. It is shown only this once:")
            announce(f"  {first_key}")
    workers: list = []
    if "worker" in roles:
        workers += [DeliveryWorker(ctx), WebhookWorker(ctx), ApprovalWorker(ctx), RetentionWorker(ctx)]
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
    wake = "PostgreSQL LISTEN/NOTIFY" if listener is not None else "in-process, other processes by polling"
    announce(f"Roles: {', '.join(sorted(roles))} (wake-ups: {wake})")
    if settings.blob_store:
        announce(f"Blob store: {settings.blob_store.split('@')[-1]} (raw messages and attachments)")
    what = "API" if "api" in roles else "Health, readiness and metrics"
    announce(f"{what} on http://{settings.host}:{settings.http_port} (data: {settings.resolved_database_url().split('@')[-1]})")
    # keep-alive above clients' pool expiry (httpx: 5 s), so a client never sends on a
    # connection the server is closing at that moment (a reset on a non-idempotent call)
    app = create_app(ctx)
    mcp_lazy.mount(app, ctx)  # /mcp: the MCP server as streamable HTTP, behind the same API keys (loaded on first use)
    install_dashboard(app)  # the approvers' pages at / (the API stays under /v1)
    app.state.worker_liveness = lambda: {w.name: w.alive for w in workers}  # GET /ready asks
    app.state.roles = {"roles": sorted(roles), "listening": (lambda: listener.connected) if listener else None}
    metrics_for(ctx).registry.register(RolesCollector(roles, listener))
    served = app if "api" in roles else ops_only(app, roles)
    # the client address per-IP limits count is the proxy's X-Forwarded-For only when the peer is a
    # trusted proxy (forwarded_allow_ips; config.py says why)
    config = uvicorn.Config(served, log_level="warning", access_log=False, timeout_keep_alive=65,
                            proxy_headers=bool(settings.forwarded_allow_ips), forwarded_allow_ips=settings.forwarded_allow_ips or None,
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
        if worker_lock is not None:
            worker_lock.close()  # releases the flock (as the process's end would)
        if getattr(server, "stop_started", None) is not None:
            log.info("stopped in %.1f s: %d open long-polls answered, workers %s", time.monotonic() - server.stop_started,
                     getattr(server, "answered_long_polls", 0),
                     "stopped" if not still else f"stopped except {', '.join(still)} (their leases expire)")
