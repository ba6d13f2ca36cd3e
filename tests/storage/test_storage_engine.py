"""The engine's transaction discipline under concurrency: SQLite writers of one process queue in
memory (never on SQLite's busy handler), PostgreSQL connections per process stay bounded, and a
failed write rolls back without waking the workers."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, func, select, text

from multimail_server.store import Store, open_store
from multimail_server.store import tables as t
from multimail_server.store.engine import make_engine


def slot_row(i: int) -> dict:
    now = t.utcnow()
    return {"api_key_id": "k", "slot": f"s{i}", "request_hash": "h", "message_id": f"m{i}", "created_at": now, "expires_at": now}


def hammer(store: Store, threads: int, writes_each: int, hold: float) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def run(n: int):
        barrier.wait()
        for j in range(writes_each):
            try:
                with store.write() as tx:
                    tx.execute(t.idempotency.insert().values(**slot_row(n * 1000 + j)))
                    time.sleep(hold)  # a transaction that takes a moment, as real ones do
            except Exception as exc:  # collected, so the test reports what went wrong
                errors.append(exc)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, range(threads)))
    return errors


def test_sqlite_writers_of_one_process_never_see_database_is_locked(tmp_path):
    """With the busy timeout cut to 1 ms, any writer that had to wait on SQLite's own lock would
    fail with "database is locked"; the process's writers must queue before they get there."""
    url = f"sqlite:///{tmp_path / 'multimail.db'}"
    open_store(url).dispose()  # migrate
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def impatient(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA busy_timeout=1")

    store = Store(engine)
    try:
        errors = hammer(store, threads=16, writes_each=8, hold=0.002)
        assert errors == [], f"{len(errors)} writes failed, first: {errors[0]!r}"
        with store.read() as tx:
            assert tx.execute(select(func.count()).select_from(t.idempotency)).scalar_one() == 16 * 8
    finally:
        store.dispose()


def test_postgresql_connections_per_process_stay_bounded(pg_url):
    store = open_store(pg_url)
    peak = 0
    stop = threading.Event()
    monitor = open_store(pg_url, migrate=False)

    def sample():
        nonlocal peak
        with monitor.engine.connect() as conn:
            while not stop.is_set():
                n = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")).scalar_one()
                conn.commit()  # pg_stat_activity is a snapshot per transaction
                peak = max(peak, n - 1)  # minus the monitor's own connection
                time.sleep(0.005)

    watcher = threading.Thread(target=sample)
    watcher.start()
    try:
        errors = hammer(store, threads=60, writes_each=3, hold=0.02)
    finally:
        stop.set()
        watcher.join()
        store.dispose()
        monitor.dispose()
    assert errors == []
    assert 1 < peak <= 20, f"one process held {peak} connections at once"


def test_a_failed_write_rolls_back_and_wakes_no_one(db_url):
    store = open_store(db_url)
    woken = []
    store.on_commit(lambda: woken.append(1))
    try:
        with pytest.raises(ZeroDivisionError):
            with store.write() as tx:
                tx.execute(t.idempotency.insert().values(**slot_row(1)))
                1 / 0
        assert woken == []
        with store.write() as tx:
            tx.execute(t.idempotency.insert().values(**slot_row(2)))
        assert woken == [1]
        with store.read() as tx:
            assert [r.slot for r in tx.execute(select(t.idempotency.c.slot))] == ["s2"]
    finally:
        store.dispose()


def test_sqlite_checkpoints_run_beside_the_writers_and_keep_the_wal_small(tmp_path):
    """SQLite's own checkpoint would run inside a writer's commit every 1000 pages, with every
    writer of the process waiting on its fsync; the store's checkpoint thread copies the WAL into
    the database every CHECKPOINT_EVERY_COMMITS commits instead, so under steady writes the WAL
    stays near one interval's worth of pages (it would otherwise reach the safety net's 10 000
    pages, 40 MB, before SQLite checkpointed it), and nothing committed is lost."""
    from multimail_server.store import engine as engine_module

    store = open_store(f"sqlite:///{tmp_path / 'ck.db'}")
    try:
        with store.write() as tx:
            tx.execute(text("CREATE TABLE filler (body TEXT)"))
        commits = 6 * engine_module.CHECKPOINT_EVERY_COMMITS
        for _ in range(commits):
            with store.write(notify=False) as tx:
                tx.execute(text("INSERT INTO filler VALUES (:b)"), {"b": "x" * 8000})  # two pages and more
        # The frames written since the WAL last started again (not the file's size, a high-water
        # mark that one slow pass on a loaded machine would raise for good): the last pass was
        # due at the last commit; give it time to finish on a busy machine.
        bound = min(2 * engine_module.CHECKPOINT_EVERY_COMMITS * 4, engine_module.AUTOCHECKPOINT_PAGES / 4)
        deadline = time.monotonic() + 15
        while True:
            with sqlite3.connect(tmp_path / "ck.db") as probe:
                (_, wal_frames, _), = probe.execute("PRAGMA wal_checkpoint(NOOP)").fetchall() or [(0, 0, 0)]
            if wal_frames < bound or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert wal_frames < bound, wal_frames
        with store.read() as tx:
            assert tx.execute(text("SELECT count(*) FROM filler")).scalar_one() == commits
    finally:
        store.dispose()


def test_postgresql_an_idle_pooled_connection_the_server_cut_is_replaced_before_use(pg_url, monkeypatch):
    """A server restart or a proxy's idle timeout cuts the connections resting in the pool; one
    that rested longer than PING_AFTER_IDLE_SECONDS is tested on checkout and replaced, so the
    request that takes it does not fail. A connection used moments ago is not tested."""
    from multimail_server.store import engine as engine_module

    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.2)
    store = Store(make_engine(pg_url))  # an empty pool: one connection, taken again and again
    monitor = open_store(pg_url, migrate=False)
    pings: list[int] = []
    real_ping = store.engine.dialect.do_ping
    monkeypatch.setattr(store.engine.dialect, "do_ping", lambda conn: pings.append(1) or real_ping(conn))
    try:
        with store.read() as tx:
            first = tx.execute(text("SELECT pg_backend_pid()")).scalar()
        with store.read() as tx:  # at once: the same connection, not tested again
            assert tx.execute(text("SELECT pg_backend_pid()")).scalar() == first
        assert pings == []  # neither the new connection nor the one used a moment ago was tested
        tested = len(pings)
        with monitor.read() as tx:
            assert tx.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first}).scalar() is True
        time.sleep(0.3)
        with store.read() as tx:  # rested past the mark: tested, found dead, replaced
            again = tx.execute(text("SELECT pg_backend_pid()")).scalar()
        assert again != first and len(pings) > tested
    finally:
        store.dispose()
        monitor.dispose()
