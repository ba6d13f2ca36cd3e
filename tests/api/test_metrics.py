"""GET /metrics, GET /ready and the request id, over real HTTP against real servers.

/metrics answers an admin key or the separate metrics token (401 without, 403 for any other key),
in the Prometheus text format, with values that follow the traffic; /ready is 200 on a healthy
server and a 503 in the error shape naming the failed check (a stopped worker, a database gone, a
schema behind the code). Those 503s are
read with httpx: the suite's guard (conftest.py) fails a test on any 5xx that `requests` sees, and
here the 503 is the promised answer.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage

import httpx
import pytest
import requests
import uvicorn
from alembic import command
from alembic.script import ScriptDirectory
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from multimail_server.api.app import create_app
from multimail_server.config import Settings
from multimail_server.services import Context
from multimail_server.services.delivery import DeliveryWorker
from multimail_server.services.keys import ensure_first_admin_key
from multimail_server.store import Store
from multimail_server.store.engine import make_engine
from multimail_server.store.migrate import alembic_config, upgrade
from multimail_server.testing import Api
from tests.conftest import free_port, fresh_pg_database, start_session_server, wait_for
from tests.mail.test_smtp_inbound import smtp_send

from .helpers import assert_error, new_address, wait_status

TOKEN = "scrape-" + secrets.token_hex(8)
FAMILIES = {
    "multimail_http_requests", "multimail_http_request_duration_seconds", "multimail_smtp_sessions",
    "multimail_smtp_transactions", "multimail_delivery_attempts", "multimail_outbox_depth",
    "multimail_outbox_oldest_age_seconds", "multimail_pending_approvals", "multimail_pending_approval_oldest_age_seconds",
    "multimail_webhook_deliveries", "multimail_long_polls_open",
}


def scrape(base: str, key: str) -> dict[tuple[str, tuple], float]:
    """Every sample of one scrape: {(sample name, sorted labels): value}."""
    r = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = list(text_string_to_metric_families(r.text))
    assert FAMILIES <= {f.name for f in families}, sorted(f.name for f in families)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_refuses_without_a_key_and_for_an_agent(server, agent, mailbox):
    assert_error(requests.get(f"{server.base}/metrics", timeout=10), 401)
    assert_error(requests.get(f"{server.base}/metrics", headers={"Authorization": "Bearer mm_live_wrong"}, timeout=10), 401)
    key = agent(mailbox()).key
    err = assert_error(requests.get(f"{server.base}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=10), 403)
    assert err["details"] == {"required_scope": "admin"}


def test_metrics_follow_the_traffic(server, admin, mailbox, outside):
    before = scrape(server.base, admin.key)
    held = mailbox(oversight_mode="gated_send")
    for _ in range(2):
        assert admin.ok("POST", "send_email", {"from": held, "to": new_address(), "subject": "Hold me", "body": "."})["status"] == "pending"
    inbox = mailbox()
    sent = admin.ok("POST", "send_email", {"from": outside(), "to": inbox, "subject": "Local", "body": "."})
    wait_status(admin, sent["message_id"], "sent")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "ana@partner.test", inbox, "By SMTP"
    msg.set_content("Hello.")
    smtp_send(server, msg)
    def counted():  # the worker logs and counts its attempt just after the message is sent
        samples = scrape(server.base, admin.key)
        sent_attempts = "multimail_delivery_attempts_total"
        return samples if value(samples, sent_attempts, outcome="sent") > value(before, sent_attempts, outcome="sent") else None

    after = wait_for(counted, timeout=10, what="the delivery attempt to be counted")

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("multimail_pending_approvals") == 2
    assert value(after, "multimail_pending_approval_oldest_age_seconds") >= 0
    assert moved("multimail_http_requests_total", route="/v1/send_email", method="POST", status="200") == 3
    assert moved("multimail_http_requests_total", route="/metrics", method="GET", status="200") >= 1
    assert moved("multimail_http_request_duration_seconds_count", route="/v1/send_email") == 3
    assert moved("multimail_smtp_sessions_total", outcome="accepted") == 1
    assert moved("multimail_smtp_transactions_total", outcome="stored") == 1
    assert moved("multimail_delivery_attempts_total", outcome="sent") >= 1
    # routes are labelled by template, never by the id a client put in the path
    assert not any("/d/" in dict(labels).get("route", "") and "{" not in dict(labels)["route"] for _, labels in after)


def test_metrics_token_reads_metrics_and_nothing_else(tmp_path_factory):
    srv = start_session_server(tmp_path_factory.mktemp("metrics-token"), env={"MULTIMAIL_METRICS_TOKEN": TOKEN})
    try:
        scrape(srv.base, TOKEN)
        assert_error(requests.get(f"{srv.base}/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}, timeout=10), 401)
        # the token is not an API key: it opens /metrics only
        assert_error(requests.get(f"{srv.base}/v1/list_mailboxes", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10), 401)
        scrape(srv.base, srv.admin_key)  # an admin key still works beside it
    finally:
        srv.stop()


def test_ready_and_the_request_id(server):
    r = requests.get(f"{server.base}/ready", timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert {name for name, check in body["checks"].items() if check["ok"]} == {"database", "migrations", "workers", "roles"}
    assert body["checks"]["roles"]["roles"] == ["api", "smtp", "worker"]  # `serve` without --role runs all
    assert body["checks"]["workers"]["alive"] == {"delivery": True, "webhooks": True, "approvals": True, "retention": True}
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]
    generated = r.headers["X-Request-Id"]
    assert len(generated) == 32 and generated != requests.get(f"{server.base}/ready", timeout=10).headers["X-Request-Id"]
    assert requests.get(f"{server.base}/health", headers={"X-Request-Id": "lb-42"}, timeout=10).headers["X-Request-Id"] == "lb-42"
    # an id unfit for a log line (too long, odd characters) is replaced, not echoed
    odd = requests.get(f"{server.base}/health", headers={"X-Request-Id": "x" * 200}, timeout=10).headers["X-Request-Id"]
    assert odd != "x" * 200 and len(odd) == 32


@contextlib.contextmanager
def serve_in_process(ctx: Context, worker: DeliveryWorker) -> Iterator[str]:
    """Serve the app of `ctx` with uvicorn in this process over real HTTP; its base URL. The
    delivery worker is the test's own: it runs only once the test starts it (a worker thread of
    a `multimail serve` subprocess can neither be held back nor killed alone)."""
    app = create_app(ctx)
    app.state.worker_liveness = lambda: {worker.name: worker.alive}
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    wait_for(lambda: uv.started, timeout=10, what="uvicorn to start")
    base = f"http://127.0.0.1:{port}"
    requests.get(f"{base}/health", timeout=60)  # FastAPI builds its routing on the first request: seconds on a busy box
    try:
        yield base
    finally:
        worker.stop(timeout=2)
        uv.should_exit = True
        thread.join(10)
        ctx.store.dispose()


@pytest.fixture
def in_process_server(tmp_path):
    """An in-process server whose delivery worker runs (see :func:`serve_in_process`)."""
    ctx = Context.from_settings(Settings(data_dir=tmp_path, smtp_enabled=False))
    worker = DeliveryWorker(ctx)
    with serve_in_process(ctx, worker) as base:
        worker.start()
        yield base, worker


def test_queue_gauges_fill_while_nothing_moves_and_drain_after(tmp_path):
    """On a fresh database (so the values are absolute): held mail counts as pending approvals,
    mail nobody delivers yet as outbox depth, both with the age of their oldest; deciding and
    delivering brings each back to 0."""
    ctx = Context.from_settings(Settings(data_dir=tmp_path, smtp_enabled=False))
    admin_key = ensure_first_admin_key(ctx)
    worker = DeliveryWorker(ctx)  # not started: nothing leaves the outbox yet
    with serve_in_process(ctx, worker) as base:
        admin = Api(base, admin_key)
        free, held = new_address(), new_address()
        admin.ok("POST", "create_mailbox", {"address": free, "oversight_mode": "autonomous"})
        admin.ok("POST", "create_mailbox", {"address": held, "oversight_mode": "gated_send"})
        empty = scrape(base, admin_key)
        for name in ("multimail_outbox_depth", "multimail_outbox_oldest_age_seconds", "multimail_pending_approvals",
                     "multimail_pending_approval_oldest_age_seconds"):
            assert value(empty, name) == 0, name

        queued = [admin.ok("POST", "send_email", {"from": free, "to": new_address(), "subject": f"Queued {i}", "body": "."})
                  for i in range(3)]
        assert {m["status"] for m in queued} == {"queued"}
        pending = [admin.ok("POST", "send_email", {"from": held, "to": new_address(), "subject": f"Held {i}", "body": "."})
                   for i in range(2)]
        assert {m["status"] for m in pending} == {"pending"}
        time.sleep(1.1)
        backed_up = scrape(base, admin_key)
        assert value(backed_up, "multimail_outbox_depth") == 3
        assert value(backed_up, "multimail_outbox_oldest_age_seconds") >= 1.0
        assert value(backed_up, "multimail_pending_approvals") == 2
        assert value(backed_up, "multimail_pending_approval_oldest_age_seconds") >= 1.0

        # an approval moves its message from the approvals into the outbox; a rejection removes it
        admin.ok("POST", "approve_message", {"message_id": pending[0]["message_id"]})
        admin.ok("POST", "reject_message", {"message_id": pending[1]["message_id"], "reason": "not today"})
        decided = scrape(base, admin_key)
        assert value(decided, "multimail_pending_approvals") == 0
        assert value(decided, "multimail_pending_approval_oldest_age_seconds") == 0
        assert value(decided, "multimail_outbox_depth") == 4

        worker.start()
        for m in [*queued, pending[0]]:
            wait_status(admin, m["message_id"], "sent")
        drained = scrape(base, admin_key)
        assert value(drained, "multimail_outbox_depth") == 0
        assert value(drained, "multimail_outbox_oldest_age_seconds") == 0
        assert value(drained, "multimail_delivery_attempts_total", outcome="sent") == 4


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request) -> Iterator[str | None]:
    """None (the server's own SQLite file) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    with fresh_pg_database("mm_behind") as url:
        yield url


def test_ready_is_503_while_the_schema_is_behind_the_code(tmp_path_factory, database_url):
    """A database one revision behind the code's migrations head (restored from an older backup,
    or downgraded by hand) is not ready; migrating it makes the server ready again."""
    srv = start_session_server(tmp_path_factory.mktemp("ready-behind"), database_url=database_url)
    store = Store(make_engine(srv.database_url))
    try:
        head = ScriptDirectory.from_config(alembic_config(store)).get_current_head()
        previous = ScriptDirectory.from_config(alembic_config(store)).get_revision(head).down_revision
        assert requests.get(f"{srv.base}/ready", timeout=10).status_code == 200
        command.downgrade(alembic_config(store), previous)
        err = assert_error(httpx.get(f"{srv.base}/ready", timeout=10), 503, "not_ready")
        assert err["details"]["failed"] == ["migrations"]
        assert err["details"]["checks"]["migrations"] == {"ok": False, "current": previous, "head": head}
        assert err["details"]["checks"]["database"] == {"ok": True}
        assert "migrations" in err["message"]
        upgrade(store)
        r = requests.get(f"{srv.base}/ready", timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["checks"]["migrations"] == {"ok": True, "current": head, "head": head}
    finally:
        store.dispose()
        srv.stop()


def test_ready_is_503_when_a_worker_stopped(in_process_server):
    base, worker = in_process_server
    assert requests.get(f"{base}/ready", timeout=10).status_code == 200
    worker.stop(timeout=5)
    assert not worker.alive
    err = assert_error(httpx.get(f"{base}/ready", timeout=10), 503, "not_ready")
    assert err["details"]["failed"] == ["workers"]
    assert err["details"]["checks"]["workers"]["alive"] == {"delivery": False}
    assert "workers" in err["message"]


def test_ready_is_503_when_the_database_is_gone(tmp_path_factory):
    with fresh_pg_database("mm_ready") as url:
        srv = start_session_server(tmp_path_factory.mktemp("ready-pg"), database_url=url)
        try:
            assert requests.get(f"{srv.base}/ready", timeout=10).status_code == 200
            u = make_url(url)
            engine = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{u.database}" WITH (FORCE)'))
            engine.dispose()
            time.sleep(0.2)
            err = assert_error(httpx.get(f"{srv.base}/ready", timeout=30), 503, "not_ready")
            assert err["details"]["failed"] == ["database", "migrations"]
            assert err["details"]["checks"]["database"]["ok"] is False
        finally:
            srv.stop()
