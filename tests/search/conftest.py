"""Fixtures of the search suite: the storage suite's services on SQLite and PostgreSQL (the
store and parser tests), and the HTTP suite's servers on both databases with its keys and local
delivery (the interface tests: HTTP in both dialects, the SDK, MCP and the dashboard)."""

from __future__ import annotations

from tests.api.conftest import admin, agent, approver, inbound, no_server_errors, outside, server  # noqa: F401
from tests.storage.conftest import clock, ctx, db, new_mailbox, operator, principal_for, store  # noqa: F401
