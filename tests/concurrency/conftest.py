"""Deployments for the concurrency tests, each started once per session:

- `sqlite`: one `multimail serve` on SQLite (the default set-up);
- `pg2`: two `multimail serve` processes sharing one fresh PostgreSQL database (skipped unless
  MULTIMAIL_TEST_POSTGRES_URL is set), started at the same moment so they also race to migrate it.

A `Deployment` hands out API clients round-robin over its servers and reads the database directly
(through the store, as the servers do) for checks the API cannot make.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from multimail_server.config import Settings
from multimail_server.core.access import Principal
from multimail_server.services import Context
from multimail_server.services import keys as key_svc
from multimail_server.store import open_store
from multimail_server.store.engine import sqlite_url_for

from ..conftest import Api, Db, ServerProcess, fresh_pg_database


class Deployment(Db):
    def __init__(self, name: str, servers: list[ServerProcess], store, admin_key: str):
        super().__init__(store)
        self.name = name
        self.servers = servers
        self.admin = Api(servers[0].base, admin_key)
        self._log_marks = {id(s): 0 for s in servers}

    # -- clients ---------------------------------------------------------------------------------
    def api(self, i: int, key: str) -> Api:
        """A fresh client (own HTTP session) on server number i (round-robin)."""
        return Api(self.servers[i % len(self.servers)].base, key)

    def new_mailbox(self, **fields: Any) -> str:
        address = f"box-{secrets.token_hex(4)}@acme.test"
        self.admin.ok("POST", "create_mailbox", {"address": address, **fields})
        return address

    def key(self, role: str, mailboxes: list[str] | None = None) -> str:
        body: dict[str, Any] = {"role": role, "name": f"concurrency-{role}"}
        if mailboxes is not None:
            body["mailboxes"] = mailboxes
        return self.admin.ok("POST", "create_api_key", body)["api_key"]

    # -- database checks -------------------------------------------------------------------------
    def mailbox_id(self, address: str) -> str:
        from multimail_server.store import tables as t

        [row] = self.rows(t.mailboxes, address=address)
        return row["id"]

    # -- server health ---------------------------------------------------------------------------
    def new_log_lines(self) -> str:
        """What the servers logged since the last call."""
        out = []
        for s in self.servers:
            text_ = s.log()
            out.append(text_[self._log_marks[id(s)]:])
            self._log_marks[id(s)] = len(text_)
        return "".join(out)

    def assert_clean_logs(self) -> None:
        new = self.new_log_lines()
        for bad in ("Traceback", "database is locked", "deadlock", "too many clients", "ERROR"):
            assert bad not in new, f"{self.name} server logged {bad!r}:\n{new[-4000:]}"


def fire(n: int, call: Callable[[int], Any]) -> tuple[list[Any], float]:
    """Run call(0..n-1) on n threads released together by a barrier; (results, seconds)."""
    barrier = threading.Barrier(n + 1)

    def run(i: int):
        barrier.wait()
        return call(i)

    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(run, i) for i in range(n)]
        barrier.wait()
        start = time.perf_counter()
        results = [f.result() for f in futures]
        elapsed = time.perf_counter() - start
    return results, elapsed


@pytest.fixture(scope="session")
def fire_together():
    return fire


@pytest.fixture(scope="session")
def sqlite_deployment(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("concurrency-sqlite")
    server = ServerProcess(data_dir, smtp=False)  # a start that fails leaves no process (testing.py)
    store = None
    try:
        store = open_store(sqlite_url_for(data_dir), migrate=False)
        yield Deployment("sqlite", [server], store, server.admin_key)
    finally:  # the server stops even if the store could not be opened
        server.stop()
        if store is not None:
            store.dispose()


@pytest.fixture(scope="session")
def pg2_deployment(tmp_path_factory):
    with fresh_pg_database("mm_conc") as url:
        servers: list[ServerProcess] = []
        store = None
        try:
            # Both servers start on the empty database at once: they migrate it concurrently.
            dirs = [tmp_path_factory.mktemp(f"concurrency-pg-{i}") for i in range(2)]
            with ThreadPoolExecutor(2) as pool:
                futures = [pool.submit(ServerProcess, d, database_url=url, smtp=False) for d in dirs]
                errors = []
                for f in futures:
                    try:
                        servers.append(f.result())
                    except BaseException as exc:  # keep the one that started so it is stopped below (a
                        errors.append(exc)        # failed start has already killed its own process)
                if errors:
                    raise errors[0]
            store = open_store(url, migrate=False)
            ctx = Context(store=store, settings=Settings(data_dir=Path(dirs[0])))
            admin_key = key_svc.create_key(ctx, principal=Principal.local_operator(), role="admin", name="concurrency admin")["api_key"]
            yield Deployment("pg2", servers, store, admin_key)
        finally:
            for s in servers:
                s.stop()
            if store is not None:
                store.dispose()


@pytest.fixture(params=["sqlite", "pg2"])
def deployment(request) -> Deployment:
    """Each test runs against one SQLite server and against two servers sharing PostgreSQL."""
    dep = request.getfixturevalue(f"{request.param}_deployment")
    dep.new_log_lines()  # only what this test causes is checked
    return dep
