"""Storage: tables, engine set-up, migrations and queries per aggregate.

SQLAlchemy Core over SQLite (embedded default, WAL) or PostgreSQL (production). Services open
transactions through `Store.write()` / `Store.read()` and call the query functions here; nothing
outside this package writes SQL.
"""

from .engine import Store
from .migrate import open_store

__all__ = ["Store", "open_store"]
