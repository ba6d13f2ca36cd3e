"""Helpers for the HTTP suite (imported by the test modules; fixtures live in conftest.py)."""

from __future__ import annotations

import re
from typing import Any

import requests

from tests.conftest import unique_address as new_address  # noqa: F401  (the one copy of each)
from tests.conftest import wait_for

Api = Any  # tests/conftest.py's Api: `requests` against the server with one key


ERROR_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


def assert_error(r: requests.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """the API reference: every non-2xx answer is {"error": {"code", "message", "details"}}."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:500]}"
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers.get("content-type")
    body = r.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"code", "message", "details"}, err
    assert isinstance(err["code"], str) and ERROR_CODE.match(err["code"]), err
    assert isinstance(err["message"], str) and err["message"].strip(), err
    assert isinstance(err["details"], dict), err
    if code is not None:
        assert err["code"] == code, f"expected code {code!r}, got {err}"
    return err


def wait_status(api, message_id: str, status: str = "sent", timeout: float = 10.0) -> dict[str, Any]:
    """Poll read_email until the message reaches `status` (the delivery worker runs in the server)."""
    last: dict[str, Any] = {}

    def reached():
        nonlocal last
        last = api.ok("GET", "read_email", message_id=message_id)
        return last if last["status"] == status else None

    try:
        return wait_for(reached, timeout=timeout, what=f"{message_id} to be {status}")
    except AssertionError:
        raise AssertionError(f"{message_id} did not reach {status!r}; last seen {last.get('status')!r}") from None


def inbox_ids(api, mailbox: str, **params) -> list[str]:
    return [m["message_id"] for m in api.ok("GET", "check_inbox", mailbox=mailbox, limit=100, **params)["messages"]]


def find_in_inbox(api, mailbox: str, subject: str, timeout: float = 10.0, **params) -> dict[str, Any]:
    def found():
        for m in api.ok("GET", "check_inbox", mailbox=mailbox, limit=100, **params)["messages"]:
            if m["subject"] == subject:
                return m
        return None

    return wait_for(found, timeout=timeout, what=f"{subject!r} in {mailbox}")


def all_audit(api, **params) -> list[dict[str, Any]]:
    events, cursor = [], None
    while True:
        page = api.ok("GET", "audit_log", limit=100, **params, **({"cursor": cursor} if cursor else {}))
        events += page["events"]
        cursor = page["next_cursor"]
        if not cursor:
            return events


def snapshot(api, mailbox: str) -> dict[str, Any]:
    """What a refused request must leave untouched: the mailbox's audit trail and approval queue
    (every change is audited, so a new message, tag or status shows up here)."""
    return {
        "audit": [e["event_id"] for e in all_audit(api, mailbox=mailbox)],
        "pending": sorted((m["message_id"], m["status"]) for m in api.ok("GET", "list_pending", mailbox=mailbox)["messages"]),
        "inbox": sorted((m["message_id"], m["read"], tuple(sorted(m["tags"].items()))) for m in api.ok("GET", "check_inbox", mailbox=mailbox, limit=100)["messages"]),
    }


