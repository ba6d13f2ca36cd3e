"""Migrations on both databases: an empty database is migrated to exactly the declared schema,
a second upgrade changes nothing, and processes migrating the same empty database at once all
succeed (the migration lock makes them take turns)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, MetaData, String, inspect, text

from multimail_server.store import open_store
from multimail_server.store import tables as t
from multimail_server.store.migrate import alembic_config, current_revision, upgrade
from multimail_server.store.search import outside_metadata


def head_revision(store) -> str:
    return ScriptDirectory.from_config(alembic_config(store)).get_current_head()


def schema_diff(store, metadata: MetaData = t.metadata) -> list:
    with store.engine.connect() as conn:
        mc = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": outside_metadata})
        return compare_metadata(mc, metadata)


def version_rows(store) -> list[str]:
    with store.engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]


def test_open_store_migrates_an_empty_database_to_the_declared_schema(db_url):
    store = open_store(db_url)
    try:
        tables = set(inspect(store.engine).get_table_names())
        assert set(t.metadata.tables) <= tables, f"missing tables: {set(t.metadata.tables) - tables}"
        assert version_rows(store) == [head_revision(store)]
        assert schema_diff(store) == []
    finally:
        store.dispose()


def test_the_schema_comparison_would_notice_drift(db_url):
    """Guard against a vacuous comparison: a column declared but never migrated is reported."""
    store = open_store(db_url)
    try:
        drifted = MetaData(naming_convention=t.metadata.naming_convention)
        for table in t.metadata.tables.values():
            table.to_metadata(drifted)
        drifted.tables["messages"].append_column(Column("not_migrated", String(10), nullable=True))
        diff = schema_diff(store, drifted)
        assert any(d[0] == "add_column" and d[3].name == "not_migrated" for d in diff), diff
    finally:
        store.dispose()


def test_a_second_upgrade_is_a_no_op(db_url):
    store = open_store(db_url)
    try:
        with store.write() as tx:
            tx.execute(t.idempotency.insert().values(
                api_key_id="k", slot="s", request_hash="h", message_id="m",
                created_at=t.utcnow(), expires_at=t.utcnow(),
            ))
        before = current_revision(store)
        upgrade(store)
        upgrade(store)
        assert current_revision(store) == before == head_revision(store)
        assert version_rows(store) == [before]
        assert schema_diff(store) == []
        with store.read() as tx:  # nothing was recreated
            assert tx.execute(text("SELECT count(*) FROM idempotency")).scalar_one() == 1
    finally:
        store.dispose()
    # And opening it again (what every `multimail serve` / CLI start does) is just as quiet.
    again = open_store(db_url)
    try:
        assert version_rows(again) == [before]
    finally:
        again.dispose()


MIGRATE_AT = """
import sys, time
from multimail_server.store import open_store
start_at = float(sys.argv[2])
time.sleep(max(0.0, start_at - time.time()))  # start together, after the imports
open_store(sys.argv[1]).dispose()
print("migrated")
"""


def test_processes_migrating_the_same_empty_database_at_once_all_succeed(db_url):
    start_at = time.time() + 2.0  # past every child's import time, so they really overlap
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE_AT, db_url, str(start_at)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
        )
        for _ in range(3)
    ]
    results = [(p.wait(timeout=60), *p.communicate()) for p in procs]
    for rc, out, err in results:
        assert rc == 0, f"a concurrent migration failed:\n{err}"
        assert out.strip() == "migrated"
    store = open_store(db_url, migrate=False)
    try:
        assert version_rows(store) == [head_revision(store)]
        assert schema_diff(store) == []
    finally:
        store.dispose()


def test_upgrading_past_0007_keeps_the_audit_history_append_only(db_url):
    """0007 widens audit_events.actor_key_id (an approver's address is an actor); on SQLite that
    copies the table, and the append-only triggers must come back with it."""
    from sqlalchemy.exc import DBAPIError

    store = open_store(db_url, migrate=False)
    try:
        upgrade(store, "0006")
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO audit_events (id, at, actor_key_id, action, details) "
                              "VALUES ('evt_before', '2026-01-01 00:00:00', 'key_1', 'x', '{}')"))
        upgrade(store)
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO audit_events (id, at, actor_key_id, action, details) "
                              "VALUES ('evt_after', '2026-01-02 00:00:00', :a, 'x', '{}')"), {"a": "approver." * 20 + "@partner.test"})
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar() == 2
        for stmt in ("UPDATE audit_events SET action = 'y'", "DELETE FROM audit_events"):
            try:
                with store.engine.begin() as conn:
                    conn.execute(text(stmt))
            except DBAPIError as exc:
                assert "append-only" in str(exc)
            else:
                raise AssertionError(f"{stmt} was allowed")
        assert schema_diff(store) == []
    finally:
        store.dispose()
