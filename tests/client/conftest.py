"""Fixtures of the SDK suite: clients against the session's real `multimail serve` (tests/conftest.py).

- `flavor`: runs a test with the sync client and with the async one; `run_client(flavor, fn)`
  calls `await fn(client)` with either, so one test body covers both (`await v(client.x(...))`).
- An autouse guard fails a test that made the server log a traceback.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from multimail_server.client import AsyncMultiMail, MultiMail
from tests.conftest import unique_address


async def v(value: Any) -> Any:
    """The value of a client call: awaited for the async client, as is for the sync one."""
    return await value if inspect.isawaitable(value) else value


async def collect(iterable: Any) -> list[Any]:
    """A list from a sync or async iterator."""
    if hasattr(iterable, "__aiter__"):
        return [item async for item in iterable]
    return list(iterable)


def new_address(prefix: str = "sdk") -> str:
    return unique_address(prefix)


def run_client(flavor: str, fn: Callable[[Any], Awaitable[Any]], **kwargs: Any) -> Any:
    """Open a client of the flavour ("sync"/"async") with kwargs and return `await fn(client)`."""

    async def main() -> Any:
        if flavor == "sync":
            with MultiMail(**kwargs) as client:
                return await fn(client)
        async with AsyncMultiMail(**kwargs) as client:
            return await fn(client)

    return asyncio.run(main())


async def wait_inbox(client: Any, mailbox: str, count: int, timeout: float = 15.0) -> list[dict]:
    """Poll check_inbox until the mailbox holds `count` messages (local delivery is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        messages = (await v(client.check_inbox(mailbox, limit=100)))["messages"]
        if len(messages) >= count:
            return messages
        if time.monotonic() > deadline:
            raise AssertionError(f"{mailbox} has {len(messages)} messages, expected {count}")
        await asyncio.sleep(0.1)


@pytest.fixture(params=["sync", "async"])
def flavor(request) -> str:
    return request.param


@pytest.fixture
def conn(server) -> dict[str, Any]:
    """Keyword arguments for an admin client of the session server (no backoff delays)."""
    return {"api_key": server.admin_key, "base_url": server.base, "retry_backoff": 0}


@pytest.fixture
def admin_client(conn):
    with MultiMail(**conn) as client:
        yield client


@pytest.fixture(autouse=True)
def no_server_tracebacks(request):
    if "server" not in request.fixturenames:
        yield
        return
    server = request.getfixturevalue("server")
    start = len(server.log())
    yield
    new = server.log()[start:]
    assert "Traceback" not in new, f"the server logged an error during this test:\n{new[-4000:]}"
