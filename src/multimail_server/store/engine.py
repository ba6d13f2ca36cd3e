"""Engine set-up and transactions.

SQLite: WAL so readers never block the writer, `BEGIN IMMEDIATE` for write transactions so two
writers never both read and then both try to upgrade their lock (the classic SQLite deadlock), a
lock per process so its writers queue in memory, and a busy timeout for writers of other processes
(CLI verbs next to `serve`), and WAL checkpoints in a thread of their own rather than inside some
writer's commit (`_Checkpointer`). PostgreSQL: READ COMMITTED, with uniqueness and `FOR UPDATE
SKIP LOCKED` doing the serialising where it matters, and a bounded pool so several processes fit
in one server's connection limit.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from . import notify as wakeups  # named apart from `write`'s `notify` flag
from . import wakes


class Store:
    """A database plus the transaction discipline every service uses."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect.name
        # (hook, topics): topics None runs the hook after every commit (store/wakes.py)
        self._after_commit_hooks: list[tuple[Callable[[], None], frozenset[str] | None]] = []
        self._lock = threading.Lock()
        self._write_lock = threading.RLock()
        # PostgreSQL: each write also NOTIFYs the other processes (store/notify.py), signed with
        # this token so this process's own listener skips what its hooks already ran for.
        self.notify_token = wakeups.new_token()
        self.listener: wakeups.Listener | None = None
        database = engine.url.database if self.is_sqlite else None
        # an in-memory database has no WAL (and each connection its own database)
        self._checkpointer = _Checkpointer(database, self._write_lock) if database and database != ":memory:" else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def ping(self) -> None:
        """Raise unless the database answers a trivial query (health checks)."""
        with self.read() as tx:
            tx.execute(text("SELECT 1"))

    @contextlib.contextmanager
    def write(self, *, notify: bool = True) -> Iterator[Connection]:
        """One write transaction; committed when the block ends, rolled back on any exception.

        After the commit the in-process workers the transaction made work for are woken
        (`on_commit`, store/wakes.py), unless `notify` is False: a worker claiming its own rows
        creates no work for the others, and waking them would have each worker's empty claim wake
        the rest, so an idle server would spin."""
        # SQLite has one writer at a time. Writers of this process queue on a lock, which hands
        # over at once, instead of on SQLite's busy handler, which polls with sleeps of up to
        # 100 ms: under 50 concurrent requests that polling made some wait for seconds. Other
        # processes (CLI verbs) still meet the busy timeout.
        with self._write_lock if self.is_sqlite else contextlib.nullcontext():
            with self.engine.connect() as conn:
                if self.is_sqlite:
                    conn.execution_options(sqlite_begin="IMMEDIATE")
                try:
                    with conn.begin():
                        yield conn
                        topics = wakes.take(conn)
                        if notify and not self.is_sqlite:  # delivered by PostgreSQL on commit only
                            wakeups.announce(conn, self.notify_token, topics)
                finally:  # a rolled-back transaction's marks must not ride on the pooled connection
                    wakes.clear(conn)
        if self._checkpointer is not None:
            self._checkpointer.committed()
        if notify:
            self._run_after_commit(topics)

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    def on_commit(self, hook: Callable[[], None], *, topics: frozenset[str] | None = None) -> None:
        """Run `hook` after every committed write that marked one of `topics` (store/wakes.py),
        or after every committed write when `topics` is None (used to wake in-process workers)."""
        with self._lock:
            self._after_commit_hooks.append((hook, topics))

    def _run_after_commit(self, topics: frozenset[str] | None) -> None:
        """Run the hooks for a commit that marked `topics` (None: unknown, so all of them)."""
        for hook, wanted in list(self._after_commit_hooks):
            if wanted is None or topics is None or wanted & topics:
                hook()

    def listen(self) -> wakeups.Listener | None:
        """PostgreSQL: start this process's one LISTEN connection, which runs the after-commit
        hooks on other processes' commits too (None on SQLite: no NOTIFY there)."""
        if self.is_sqlite:
            return None
        with self._lock:
            if self.listener is None:
                self.listener = wakeups.Listener(wakeups.libpq_dsn(self.engine.url), self.notify_token,
                                                self._run_after_commit)
                self.listener.start()
            return self.listener

    def dispose(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()


# SQLite's own checkpoint runs inside the commit that pushes the WAL past `wal_autocheckpoint`
# pages (1000 by default): that writer copies the WAL into the database and fsyncs both while it
# holds the write lock, so every writer of the process stalls behind it (15-20 ms a time on this
# project's 2-core test machine, every few dozen received messages). Here a thread of the process
# runs a PASSIVE checkpoint, which takes no write lock, every CHECKPOINT_EVERY_COMMITS commits;
# the automatic checkpoint stays as a safety net at a higher mark (AUTOCHECKPOINT_PAGES), reached
# only if the thread falls behind. Durability is unchanged: a commit is in the WAL either way.
CHECKPOINT_EVERY_COMMITS = 200
AUTOCHECKPOINT_PAGES = 10_000


class _Checkpointer:
    def __init__(self, path: str, write_lock: threading.RLock):
        self._path = path
        self._write_lock = write_lock
        self._commits = 0
        self._due = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def committed(self) -> None:
        with self._lock:
            self._commits += 1
            if self._commits < CHECKPOINT_EVERY_COMMITS or self._stopping:
                return
            self._commits = 0
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
                self._thread.start()
        self._due.set()

    def _run(self) -> None:
        # A connection of its own, outside the pool: the checkpointer never waits for (or holds)
        # a connection the writers need.
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._stopping:
                    return
                try:
                    # The long pass runs beside the writers. It copies what was in the WAL when
                    # it began; the few frames committed meanwhile are copied by a short second
                    # pass with this process's writers held off, so the WAL is then copied in
                    # full and the next writer starts it again from its beginning (otherwise,
                    # under steady writes, it would grow to the safety net's mark).
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    with self._write_lock:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:  # a failed pass leaves the WAL to the next one (or to SQLite's own)
                    pass
        finally:
            conn.close()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._due.set()
        if thread is not None:
            thread.join(5)


def sqlite_url_for(data_dir: str | Path) -> str:
    path = Path(data_dir).resolve() / "multimail.db"
    return f"sqlite:///{path}"


def sqlite_file_of(url: str) -> Path | None:
    """The database file a SQLite URL names (None: not SQLite, or in memory)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database).resolve()


def normalize_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` and use the psycopg 3 driver for them."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


PG_POOL_SIZE = 5
PG_MAX_OVERFLOW = 15


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        u = make_url(url)
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20, max_overflow=20)
        _configure_sqlite(engine)
        return engine
    # At most 20 connections per process: requests beyond that wait briefly for a free one
    # instead of opening more. A stock PostgreSQL allows 100 clients, and several `multimail
    # serve` processes (plus CLI verbs) share it; 40 per process let three servers exhaust it.
    engine = create_engine(url, pool_size=PG_POOL_SIZE, max_overflow=PG_MAX_OVERFLOW, pool_timeout=30)
    _ping_after_idle(engine)
    return engine


# A pooled PostgreSQL connection is tested before use when it has been idle this long: a server
# restart, a failover or a proxy's idle timeout cut connections that sit in the pool, and the
# test finds them before a request does. SQLAlchemy's pool_pre_ping tests on every checkout, a
# round trip each; a send checks out twice, and the two pings cost 1.2 of its 6.6 ms of CPU,
# for connections that had been used a few milliseconds before. A connection that was busy
# through a cut fails its own statement, and SQLAlchemy then invalidates the pool's older
# connections, so the next checkout gets a fresh one.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_after_idle(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _rested_from(_dbapi_conn, record):  # a new connection needs no test: it has just answered
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):
        since = record.info.pop("idle_since", None)
        if since is not None and time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            # the pool discards this connection and checks out another (a new one if need be)
            raise DisconnectionError(f"a pooled connection failed its test: {type(exc).__name__}") from exc


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Hand transaction control to SQLAlchemy's begin event below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


__all__ = ["Store", "make_engine", "sqlite_url_for", "sqlite_file_of", "normalize_url"]
