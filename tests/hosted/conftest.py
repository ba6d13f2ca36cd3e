"""Fixtures of the hosted-dialect suite: the HTTP suite's servers (SQLite and PostgreSQL), keys and
mailboxes, and `Hosted`, a plain `requests` client that calls the hosted API's resource routes the
way code written for the hosted service does (Bearer key, JSON bodies, paths under /v1)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.api.conftest import _real_send, admin, agent, approver, inbound, outside, server  # noqa: F401


@pytest.fixture(autouse=True)
def no_server_errors(request, monkeypatch):
    """tests/api's guard, but for this dialect's one deliberate 5xx: a 501 `not_implemented` (a
    hosted feature this server lacks). Any other 5xx, or a traceback in the server's log, fails."""
    server = request.getfixturevalue("server") if "server" in request.fixturenames else None
    log_start = len(server.log()) if server is not None else 0

    def guarded(self, req, **kwargs):
        response = _real_send(self, req, **kwargs)
        deliberate = response.status_code == 501 and '"not_implemented"' in response.text
        assert response.status_code < 500 or deliberate, f"{req.method} {req.url} answered {response.status_code}: {response.text[:500]}"
        return response

    monkeypatch.setattr(requests.Session, "send", guarded)
    yield
    if server is not None:
        new_log = server.log()[log_start:]
        assert "Traceback" not in new_log, f"the server logged an error during this test:\n{new_log[-4000:]}"


class Hosted:
    def __init__(self, base: str, key: str | None):
        self.base, self.key = base, key
        self.session = requests.Session()

    def call(self, method: str, path: str, body: Any = None, **params) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        kwargs: dict[str, Any] = {"params": params or None, "headers": headers, "timeout": 30}
        if body is not None:
            kwargs["json"] = body
        return self.session.request(method, f"{self.base}{path}", **kwargs)

    def ok(self, method: str, path: str, body: Any = None, expect: int = 200, **params) -> Any:
        r = self.call(method, path, body, **params)
        assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text[:800]}"
        return r.json()


@pytest.fixture
def hosted(server):
    """hosted(key=None) -> a Hosted client (the session's admin key by default)."""
    return lambda key=None: Hosted(server.base, key or server.admin_key)


@pytest.fixture
def hosted_key(admin):
    """hosted_key(role, *mailboxes) -> the secret of a new key (made through the verb API)."""

    def _make(role: str, *boxes: str) -> str:
        body: dict[str, Any] = {"role": role, "name": f"hosted-{role}"}
        if boxes:
            body["mailboxes"] = list(boxes)
        return admin.ok("POST", "create_api_key", body)["api_key"]

    return _make
