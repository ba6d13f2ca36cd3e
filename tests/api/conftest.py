"""Fixtures of the HTTP suite: every request goes over real HTTP to the session's `multimail serve`.

- An autouse guard fails a test on any 5xx answer (a 5xx is a bug, never a validation answer) and
  on any traceback the server logged while the test ran (a crashed request or delivery pass).
- `inbound` puts a message in a mailbox the way mail really arrives between hosted mailboxes: sent
  by another (autonomous) mailbox and delivered locally by the server's delivery worker.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import pytest
import requests

from .helpers import find_in_inbox, wait_status

_real_send = requests.Session.send


@pytest.fixture(autouse=True)
def no_server_errors(request, monkeypatch):
    """Fail on a 5xx answer at once, and on a server-side traceback at the end of the test (of the
    session server, for tests that use it: tests that start their own servers are not run twice)."""
    server = request.getfixturevalue("server") if "server" in request.fixturenames else None
    log_start = len(server.log()) if server is not None else 0

    def guarded(self, request, **kwargs):
        response = _real_send(self, request, **kwargs)
        assert response.status_code < 500, (
            f"{request.method} {request.url} answered {response.status_code}: {response.text[:500]}"
        )
        return response

    monkeypatch.setattr(requests.Session, "send", guarded)
    yield
    if server is None:
        return
    new_log = server.log()[log_start:]
    assert "Traceback" not in new_log, f"the server logged an error during this test:\n{new_log[-4000:]}"


@pytest.fixture
def outside(mailbox):
    """A hosted autonomous mailbox that plays a correspondent: its mail is delivered at once."""
    cache: dict[str, str] = {}

    def _get() -> str:
        if "addr" not in cache:
            cache["addr"] = mailbox(oversight_mode="autonomous", display_name="Ana Analyst")
        return cache["addr"]

    return _get


@pytest.fixture
def inbound(admin, outside):
    """inbound(to_mailbox, subject=..., body=..., **send_fields) -> the recipient's message view
    (from check_inbox), after local delivery."""

    def _make(to: str, subject: str | None = None, body: str = "Hello from outside.", sender: str | None = None, **fields) -> dict[str, Any]:
        subject = subject or f"Inbound {secrets.token_hex(4)}"
        sent = admin.ok("POST", "send_email", {"from": sender or outside(), "to": to, "subject": subject, "body": body, **fields})
        assert sent["status"] in ("queued", "sent"), sent
        wait_status(admin, sent["message_id"], "sent")
        return find_in_inbox(admin, to, subject)

    return _make


@pytest.fixture
def agent(make_key):
    """agent(*mailboxes) -> an agent-role Api scoped to those mailboxes."""
    return lambda *boxes: make_key("agent", list(boxes))


@pytest.fixture
def approver(make_key):
    return lambda *boxes: make_key("approver", list(boxes))




@pytest.fixture(scope="session")
def admin(server):
    """This suite's own admin client: the root `admin` is cached for the whole session, and
    would keep this suite's (last) server's key for the suites that run after it."""
    from tests.conftest import Api

    return Api(server.base, server.admin_key)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    """The HTTP suite runs twice: against a server on SQLite and one on PostgreSQL (skipped
    without MULTIMAIL_TEST_POSTGRES_URL, a failure under CI=true). Session-scoped, so pytest runs
    every test on the first server, then every test on the second."""
    from tests.conftest import PG_ENV, fresh_pg_database, require_service, start_session_server

    if request.param == "sqlite":
        srv = start_session_server(tmp_path_factory.mktemp("server"))
        yield srv
        srv.stop()
        return
    require_service("PostgreSQL", bool(os.environ.get(PG_ENV)), f"set {PG_ENV}")
    with fresh_pg_database("mm_http") as url:
        srv = start_session_server(tmp_path_factory.mktemp("server-pg"), database_url=url)
        yield srv
        srv.stop()
