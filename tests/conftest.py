"""Shared fixtures: real servers on free loopback ports, and databases for the storage tests.

- `server`: one `multimail serve` process (SQLite, capture mode) for the whole session.
- `pg_url`: a fresh PostgreSQL database per session when MULTIMAIL_TEST_POSTGRES_URL is set
  (CI sets it); tests that need it are skipped otherwise.
- `db_url`: parametrized over SQLite and PostgreSQL for storage tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from multimail.store import tables as store_tables

PG_ENV = "MULTIMAIL_TEST_POSTGRES_URL"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The suite drives its servers hard from one IP (bursts, 50 concurrent sends, fuzzing) with a few
# keys, far beyond what a small team's defaults allow; test servers get roomy rate limits (still
# enforced), and tests of the limits themselves pass their own in `env`.
TEST_RATE_LIMITS = {
    "MULTIMAIL_RATE_LIMIT_PER_KEY": "1000000/minute",
    "MULTIMAIL_RATE_LIMIT_PER_IP": "1000000/minute",
    "MULTIMAIL_RATE_LIMIT_AUTH_FAILURES": "1000000/minute",
    "MULTIMAIL_RATE_LIMIT_VERIFY": "1000000/minute",
    "MULTIMAIL_RATE_LIMIT_LINKS": "1000000/minute",
    "MULTIMAIL_RATE_LIMIT_SMTP_CONCURRENT": "1000",
    "MULTIMAIL_RATE_LIMIT_SMTP_CONNECTIONS": "1000000/minute",
    "MULTIMAIL_RATE_LIMIT_SMTP_AUTH_FAILURES": "1000000/minute",
    "MULTIMAIL_RATE_LIMIT_SMTP_MESSAGES_PER_IP": "1000000/minute",
    "MULTIMAIL_RATE_LIMIT_SMTP_MESSAGES_PER_SENDER": "1000000/minute",
}


class ServerProcess:
    """A real `multimail serve` subprocess; its stdout is kept in a log file for debugging."""

    def __init__(self, data_dir: Path, *, database_url: str | None = None, env: dict[str, str] | None = None, smtp: bool = True):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.http_port = free_port()
        self.smtp_port = free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.log_path = self.data_dir / f"server-{self.http_port}.log"
        cmd = [sys.executable, "-m", "multimail.cli", "serve", "--data-dir", str(self.data_dir),
               "--http-port", str(self.http_port), "--smtp-port", str(self.smtp_port)]
        if database_url:
            cmd += ["--database-url", database_url]
        if not smtp:
            cmd.append("--no-smtp")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **TEST_RATE_LIMITS, **(env or {})})
        self.admin_key = None
        self._wait_healthy()

    def _wait_healthy(self, timeout: float = 40.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if requests.get(self.base + "/health", timeout=1).status_code == 200:
                    m = re.search(r"(mm_live_[A-Za-z0-9_-]+)", self.log())
                    self.admin_key = m.group(1) if m else None
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not healthy in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


class Db:
    """SQL checks on what a service wrote (or, after a failure, did not write)."""

    def __init__(self, store):
        self.store = store

    def count(self, table, **where: Any) -> int:
        q = select(func.count()).select_from(table)
        for col, val in where.items():
            q = q.where(table.c[col] == val)
        with self.store.read() as tx:
            return tx.execute(q).scalar_one()

    def rows(self, table, **where: Any) -> list[dict[str, Any]]:
        q = select(table)
        for col, val in where.items():
            q = q.where(table.c[col] == val)
        with self.store.read() as tx:
            return [dict(r) for r in tx.execute(q).mappings()]

    def snapshot(self) -> dict[str, int]:
        """Row counts of every table."""
        return {name: self.count(table) for name, table in store_tables.metadata.tables.items()}


def wait_for(fn, timeout: float = 15.0, *, what: str = "condition"):
    """Call `fn` until it returns something truthy (returned), failing the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Clock:
    """The one test clock: a Context's `clock` that the test moves by hand (`clock.advance(hours=24)`).
    It starts at a fixed instant, or at `start` (tests whose signatures a receiver checks against
    its own clock start at `Clock.real_now()`)."""

    FIXED = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)

    def __init__(self, start: datetime | None = None):
        self.now = start or self.FIXED

    @staticmethod
    def real_now() -> datetime:
        return datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class Api:
    """`requests` against a server with one key, as a hosted-API client would use it."""

    def __init__(self, base: str, key: str | None):
        self.base = base
        self.key = key
        self.session = requests.Session()

    def headers(self, extra: dict | None = None) -> dict:
        h = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return {**h, **(extra or {})}

    def get(self, verb: str, **params):
        return self.session.get(f"{self.base}/v1/{verb}", params=params, headers=self.headers(), timeout=30)

    def post(self, verb: str, body=None, headers: dict | None = None, **kw):
        return self.session.post(f"{self.base}/v1/{verb}", json=body, headers=self.headers(headers), timeout=30, **kw)

    def ok(self, method: str, verb: str, body=None, **params) -> dict:
        r = self.post(verb, body) if method == "POST" else self.get(verb, **params)
        assert r.status_code == 200, f"{method} {verb}: {r.status_code} {r.text}"
        return r.json()


def unique_address(prefix: str = "box", domain: str = "acme.test") -> str:
    return f"{prefix}-{secrets.token_hex(4)}@{domain}"


# DNS answers for the session server's sender checks (no network here): partner.test sends from
# loopback with SPF and a DMARC policy, so its mail is authenticated (replies to decide_email
# from it may decide); any other domain is not.
SESSION_DNS = {
    "partner.test": ["v=spf1 ip4:127.0.0.1 ip6:::1 -all"],
    "_dmarc.partner.test": ["v=DMARC1; p=reject"],
}


def start_session_server(data: Path, database_url: str | None = None) -> ServerProcess:
    dns = data / "dns.json"
    dns.write_text(json.dumps(SESSION_DNS))
    return ServerProcess(data, database_url=database_url, env={"MULTIMAIL_DNS_OVERRIDES": str(dns)})


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    srv = start_session_server(tmp_path_factory.mktemp("server"))
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def admin(server) -> Api:
    return Api(server.base, server.admin_key)


@pytest.fixture
def make_key(admin):
    """Create a key through the API: make_key("agent", ["a@x.test"]) -> Api."""

    def _make(role: str, mailboxes: list[str] | None = None) -> Api:
        body = {"role": role, "name": f"test-{role}"}
        if mailboxes is not None:
            body["mailboxes"] = mailboxes
        created = admin.ok("POST", "create_api_key", body)
        return Api(admin.base, created["api_key"])

    return _make


@pytest.fixture
def mailbox(admin):
    """Create a mailbox through the API: mailbox(oversight_mode="gated_send", ...) -> address."""

    def _make(**fields) -> str:
        address = fields.pop("address", None) or unique_address()
        admin.ok("POST", "create_mailbox", {"address": address, **fields})
        return address

    return _make


@pytest.fixture(scope="session")
def prefect_api_url():
    """A real, temporary Prefect server for the session (Prefect's own `prefect_test_harness`,
    SQLite-backed): its API URL. Flows run in the test process report to it."""
    pytest.importorskip("prefect")
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry calls (no network here)
    with prefect_test_harness(server_startup_timeout=90):
        yield PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory, prefect_api_url) -> ServerProcess:
    """A MultiMail server that resumes flow runs through that Prefect API (with the session's
    DNS answers, so replies from partner.test may decide)."""
    data = tmp_path_factory.mktemp("prefect-server")
    dns = data / "dns.json"
    dns.write_text(json.dumps(SESSION_DNS))
    srv = ServerProcess(data, env={"MULTIMAIL_DNS_OVERRIDES": str(dns), "MULTIMAIL_PREFECT_API_URL": prefect_api_url})
    yield srv
    srv.stop()


@contextlib.contextmanager
def fresh_pg_database(prefix: str = "mm_test") -> Iterator[str]:
    """A new, empty PostgreSQL database (skips the test when none is configured), dropped after."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} not set")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = make_url(base).set(drivername="postgresql+psycopg")
    admin_engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Storage tests run on both databases (PostgreSQL when configured)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'multimail.db'}"
        return
    with fresh_pg_database() as url:
        yield url
