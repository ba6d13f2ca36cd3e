"""Fixtures of the review suite (holes found by attacking search, contacts, spam and retention):
the HTTP suite's servers on SQLite and PostgreSQL, its keys, and the guard that fails a test on
any 5xx answer or server-side traceback."""

from __future__ import annotations

from tests.api.conftest import admin, agent, approver, inbound, no_server_errors, outside, server  # noqa: F401
