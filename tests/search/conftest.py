"""Fixtures of the search suite: the storage suite's services on SQLite and PostgreSQL, and the
HTTP suite's servers for the interfaces."""

from __future__ import annotations

from tests.storage.conftest import clock, ctx, db, new_mailbox, operator, principal_for, store  # noqa: F401
