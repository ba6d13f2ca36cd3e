"""Shared fixtures: real servers on free loopback ports, and databases for the storage tests.

- `server`: one `multimail serve` process (SQLite, capture mode) for the whole session.
- `prefect_api_url` / `prefect_server` (from multimail_server.testing): a temporary Prefect server and a
  MultiMail server that resumes flow runs through it.
- `pg_url`: a fresh PostgreSQL database per session when MULTIMAIL_TEST_POSTGRES_URL is set
  (CI sets it); tests that need it are skipped otherwise.
- `db_url`: parametrized over SQLite and PostgreSQL for storage tests.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from multimail_server.store import tables as store_tables

# The servers, their client and the Prefect fixtures live in multimail_server.testing (shared with the
# prefect-multimail suite); imported here so that `from tests.conftest import ...` keeps working
# and the fixtures are this suite's too.
from multimail_server.testing import (  # noqa: F401
    SESSION_DNS,
    TEST_RATE_LIMITS,
    Api,
    ServerProcess,
    free_port,
    prefect_api_url,
    prefect_server,
    require_service,
    start_session_server,
    wait_for,
)

PG_ENV = "MULTIMAIL_TEST_POSTGRES_URL"


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


class Clock:
    """The one test clock: a Context's `clock` that the test moves by hand (`clock.advance(hours=24)`).
    It starts at a fixed instant, or at `start` (tests whose signatures a receiver checks against
    its own clock start at `Clock.real_now()`)."""

    FIXED = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def __init__(self, start: datetime | None = None):
        self.now = start or self.FIXED

    @staticmethod
    def real_now() -> datetime:
        return datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def unique_address(prefix: str = "box", domain: str = "acme.test") -> str:
    return f"{prefix}-{secrets.token_hex(4)}@{domain}"


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


@contextlib.contextmanager
def fresh_pg_database(prefix: str = "mm_test") -> Iterator[str]:
    """A new, empty PostgreSQL database (skips the test when none is configured), dropped after."""
    base = os.environ.get(PG_ENV)
    require_service("PostgreSQL", bool(base), f"set {PG_ENV} (.ci/run sets it for 127.0.0.1:5432)")
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
