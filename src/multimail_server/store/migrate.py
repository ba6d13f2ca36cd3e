"""Run Alembic migrations from code, safely when several processes start at once.

`multimail serve` and `multimail keys create` both upgrade the schema on start; on PostgreSQL an
advisory lock makes concurrent starters take turns, on SQLite a file lock beside the database
does.
"""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from .engine import Store, make_engine, normalize_url

MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK_ID = 0x6D6D6D6D  # "mmmm"


def alembic_config(store: Store) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["store"] = store
    return cfg


@contextlib.contextmanager
def _migration_lock(store: Store):
    if store.is_sqlite:
        db = make_url(str(store.engine.url)).database
        if not db or db == ":memory:":
            yield
            return
        lock_path = Path(db).with_suffix(".migrate.lock")
        with open(lock_path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    else:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _PG_LOCK_ID})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _PG_LOCK_ID})
                conn.commit()


def upgrade(store: Store, revision: str = "head") -> None:
    with _migration_lock(store):
        command.upgrade(alembic_config(store), revision)


def current_revision(store: Store) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def open_store(url: str, *, migrate: bool = True) -> Store:
    """A store on `url`, its schema upgraded to the newest revision first (unless `migrate` is
    False): the one way servers and CLI verbs open the database."""
    store = Store(make_engine(url))
    if migrate:
        upgrade(store)
    return store


def holds_store(url: str) -> bool:
    """Whether `url` names a database that already holds a MultiMail store, checked without
    creating anything (a mistyped --data-dir must not leave an empty database behind)."""
    u = make_url(normalize_url(url))
    if u.get_backend_name() == "sqlite":
        if not u.database or u.database == ":memory:" or not Path(u.database).is_file():
            return False
    engine = create_engine(u)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
        return {"alembic_version", "api_keys", "mailboxes"} <= tables
    except Exception:
        return False
    finally:
        engine.dispose()
