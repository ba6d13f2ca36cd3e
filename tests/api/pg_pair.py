"""Two `multimail serve` processes sharing one fresh PostgreSQL database (skipped unless
MULTIMAIL_TEST_POSTGRES_URL is set), for the claim and long-poll tests that must hold across
processes: SKIP LOCKED between servers, and a change on server B waking a waiter on server A.
Built like tests/concurrency/conftest.py's `pg2` deployment."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from multimail_server.config import Settings
from multimail_server.core.access import Principal
from multimail_server.services import Context
from multimail_server.services import keys as key_svc
from multimail_server.store import open_store

from ..conftest import Api, ServerProcess, fresh_pg_database


class Pair:
    def __init__(self, servers: list[ServerProcess], admin_key: str):
        self.servers = servers
        self.admin_key = admin_key
        self.admins = [Api(s.base, admin_key) for s in servers]

    def api(self, i: int, key: str) -> Api:
        return Api(self.servers[i].base, key)

    def assert_clean_logs(self) -> None:
        for s in self.servers:
            assert "Traceback" not in s.log(), s.log()[-4000:]


@contextlib.contextmanager
def pg_pair(tmp_path_factory) -> Iterator[Pair]:
    with fresh_pg_database("mm_pair") as url:
        servers: list[ServerProcess] = []
        store = None
        try:
            # The first server migrates the empty database; the second starts on the migrated one.
            dirs = [tmp_path_factory.mktemp(f"pair-pg-{i}") for i in range(2)]
            servers.append(ServerProcess(dirs[0], database_url=url))
            servers.append(ServerProcess(dirs[1], database_url=url))
            store = open_store(url, migrate=False)
            ctx = Context(store=store, settings=Settings(data_dir=Path(dirs[0])))
            key = key_svc.create_key(ctx, principal=Principal.local_operator(), role="admin", name="pair admin")["api_key"]
            yield Pair(servers, key)
        finally:
            for s in servers:
                s.stop()
            if store is not None:
                store.dispose()
