"""Fixtures of the scheduled-send and forward suite: the HTTP suite's servers (SQLite and
PostgreSQL), keys and correspondents, and helpers to name a time a few seconds ahead and to read
what the server handed over (capture mode keeps the bytes and when it took them)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import admin, agent, approver, inbound, no_server_errors, outside, server  # noqa: F401


def ahead(seconds: float) -> str:
    """An ISO 8601 UTC time `seconds` from now, as the hosted API writes it (…Z)."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
def captured(server):
    """captured(message_id) -> [(captured_at, rcpt_tos, raw bytes)] of what capture mode took."""

    def _rows(message_id: str) -> list[tuple[datetime, Any, bytes]]:
        rows = server.query("SELECT captured_at, rcpt_tos, raw FROM captured_mail WHERE message_id = :m ORDER BY seq",
                            m=message_id)
        result = []
        for at, rcpt, raw in rows:
            when = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
            rcpt = json.loads(rcpt) if isinstance(rcpt, str) else rcpt  # SQLite answers JSON as text
            result.append((when if when.tzinfo else when.replace(tzinfo=UTC), rcpt, bytes(raw)))
        return result

    return _rows
