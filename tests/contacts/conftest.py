"""Fixtures of the contacts suite: the HTTP suite's servers (SQLite and PostgreSQL) and keys."""

from __future__ import annotations

from tests.api.conftest import admin, agent, approver, inbound, no_server_errors, outside, server  # noqa: F401
