"""Scheduled send through the other interfaces: the hosted routes (send, PATCH …/schedule, the
`scheduled` status filter, the mailbox's default_gate_timing), the MCP tools with the hosted MCP
server's parameters (schedule_email, edit_scheduled_email), the SDK, and a restart between the
schedule and its time."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from multimail_server.client import MultiMail
from multimail_server.client.errors import MultiMailError
from tests.api.helpers import assert_error, wait_status
from tests.conftest import Api, start_session_server, unique_address
from tests.hosted.conftest import Hosted
from tests.mcp.conftest import http_client

from .conftest import ahead, parse_time

REMOTE = "ana@partner.test"


def test_hosted_send_list_and_edit_schedule(server, admin, agent, approver, mailbox, captured):
    box = mailbox(oversight_mode="gated_send")
    key = agent(box)
    h = Hosted(server.base, key.key)
    [info] = [m for m in Hosted(server.base, server.admin_key).ok("GET", "/v1/mailboxes")["mailboxes"] if m["address"] == box]
    assert (info["default_gate_timing"], info["scheduling_enabled"]) == ("gate_first", 1)

    sent = h.ok("POST", f"/v1/mailboxes/{box}/send", {"to": [REMOTE], "subject": "Hosted later", "markdown": "**soon**",
                                                        "send_at": ahead(300)}, expect=202)
    assert sent["status"] == "pending_send_approval" and sent["send_at"]
    approver(box).ok("POST", "approve_message", {"message_id": sent["id"]})
    listed = h.ok("GET", f"/v1/mailboxes/{box}/emails", status="scheduled")["emails"]
    assert [(e["id"], e["status"], e["send_at"]) for e in listed] == [(sent["id"], "scheduled", sent["send_at"])]
    assert h.ok("GET", f"/v1/mailboxes/{box}/emails/{sent['id']}")["status"] == "scheduled"

    err = assert_error(h.call("PATCH", f"/v1/mailboxes/{box}/emails/{sent['id']}/schedule", {"to": ["eve@elsewhere.test"]}),
                       409, "recipients_locked")
    assert err["details"]["message_id"] == sent["id"]
    moved = h.ok("PATCH", f"/v1/mailboxes/{box}/emails/{sent['id']}/schedule", {"send_at": ahead(3)})
    assert moved["status"] == "pending_send_approval"  # the approved time changed: the approvers decide again
    approver(box).ok("POST", "approve_message", {"message_id": sent["id"]})
    wait_status(key, sent["id"], "sent", timeout=20)
    [(at, _, raw)] = captured(sent["id"])
    assert at >= parse_time(moved["send_at"]) and b"<strong>soon</strong>" in raw
    assert_error(h.call("PATCH", f"/v1/mailboxes/{box}/emails/{sent['id']}/schedule", {"send_at": ahead(60)}), 409)
    assert_error(h.call("POST", f"/v1/mailboxes/{box}/send", {"to": [REMOTE], "subject": "x", "markdown": "x",
                                                              "send_at": "2026-03-15 14:00"}), 400, "invalid_send_at")


def test_hosted_default_gate_timing_is_a_mailbox_setting(server, agent, mailbox):
    box = mailbox(oversight_mode="gated_send")
    admin_h = Hosted(server.base, server.admin_key)
    assert admin_h.ok("PATCH", f"/v1/mailboxes/{box}", {"default_gate_timing": "schedule_first"})["status"] == "updated"
    assert admin_h.ok("GET", f"/v1/mailboxes/{box}")["default_gate_timing"] == "schedule_first"
    h = Hosted(server.base, agent(box).key)
    sent = h.ok("POST", f"/v1/mailboxes/{box}/send", {"to": [REMOTE], "subject": "When due", "markdown": "x",
                                                        "send_at": ahead(300)}, expect=202)
    assert sent["status"] == "scheduled"
    assert_error(h.call("POST", f"/v1/mailboxes/{box}/send", {"to": [REMOTE], "subject": "Early", "markdown": "x",
                                                              "send_at": ahead(300), "gate_timing": "gate_first"}), 403, "oversight_floor")
    h.ok("POST", f"/v1/mailboxes/{box}/emails/{sent['id']}/cancel")


def _structured(result):
    assert not result.is_error, result.content
    return result.structured_content


def test_mcp_configure_mailbox_cannot_turn_scheduling_off(server, admin, mailbox):
    """configure_mailbox's scheduling_enabled: true changes nothing (every mailbox may schedule);
    false cannot be honoured, so it is refused (501) and nothing changes, as on the hosted route."""
    box = mailbox(oversight_mode="gated_send")

    async def main():
        async with http_client(server.base, server.admin_key) as o:
            off = await o.call_tool("configure_mailbox", {"mailbox_id": box, "display_name": "Off", "scheduling_enabled": False})
            on = await o.call_tool("configure_mailbox", {"mailbox_id": box, "scheduling_enabled": True})
        return off, on

    off, on = anyio.run(main)
    assert off.is_error and off.structured_content["error"]["status"] == 501
    assert "scheduling_enabled" in off.structured_content["error"]["message"]
    assert not on.is_error, on.content
    assert next(m for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == box)["display_name"] != "Off"


def test_mcp_schedule_and_edit_scheduled_email(server, agent, mailbox):
    box = mailbox(oversight_mode="autonomous")
    key = agent(box)

    async def main():
        async with http_client(server.base, key.key) as client:
            scheduled = _structured(await client.call_tool("schedule_email", {
                "to": [REMOTE], "subject": "From MCP", "markdown": "Later.", "send_at": ahead(300), "mailbox_id": box}))
            edited = _structured(await client.call_tool("edit_scheduled_email", {
                "email_id": scheduled["message_id"], "send_at": ahead(600), "subject": "From MCP, moved"}))
            refused = await client.call_tool("schedule_email", {"to": [REMOTE], "subject": "x", "markdown": "x",
                                                                "send_at": "2020-01-01T00:00:00Z", "mailbox_id": box})
            sent_later = _structured(await client.call_tool("send_email", {
                "to": [REMOTE], "subject": "send_at on send_email", "markdown": "x", "send_at": ahead(300), "mailbox_id": box}))
            tools = {t.name: t for t in (await client.list_tools()).tools}
            return scheduled, edited, refused, sent_later, tools

    scheduled, edited, refused, sent_later, tools = anyio.run(main)
    assert scheduled["status"] == "scheduled" and edited["status"] == "scheduled"
    assert parse_time(edited["send_at"]) > parse_time(scheduled["send_at"])
    assert refused.is_error and refused.structured_content["error"]["code"] == "send_at_in_past"
    assert sent_later["status"] == "scheduled"
    assert set(tools["schedule_email"].input_schema["required"]) == {"to", "subject", "markdown", "send_at"}
    assert set(tools["edit_scheduled_email"].input_schema["properties"]) == {
        "email_id", "send_at", "to", "cc", "bcc", "subject", "markdown", "mailbox_id"}
    view = key.ok("GET", "read_email", message_id=scheduled["message_id"])
    assert view["subject"] == "From MCP, moved" and view["status"] == "scheduled"
    for m in (scheduled, sent_later):
        key.ok("POST", "cancel_message", {"message_id": m["message_id"]})


def test_sdk_send_at_accepts_an_aware_datetime(server, agent, mailbox):
    box = mailbox(oversight_mode="autonomous")
    key = agent(box)
    with MultiMail(base_url=server.base, api_key=key.key) as client:
        when = (datetime.now(UTC) + timedelta(minutes=5)).replace(microsecond=0)
        result = client.send_email(sender=box, to=REMOTE, subject="SDK later", body="x", send_at=when)
        assert result.status == "scheduled" and parse_time(result.send_at) == when
        moved = client.edit_scheduled_email(result.message_id, send_at=when + timedelta(hours=1))
        assert parse_time(moved.send_at) == when + timedelta(hours=1)
        naive = datetime.now() + timedelta(minutes=5)  # noqa: DTZ005 - the point: no offset
        with pytest.raises(MultiMailError) as refused:
            client.send_email(sender=box, to=REMOTE, subject="naive", body="x", send_at=naive)
        assert getattr(refused.value, "code", None) == "invalid_send_at"
        client.cancel_message(result.message_id)


@pytest.fixture(params=["sqlite", "postgresql"])
def restartable(request, tmp_path):
    """A server of this test's own, to restart: on SQLite and on PostgreSQL (skipped without
    MULTIMAIL_TEST_POSTGRES_URL, a failure under CI=true), where the outbox row is what survives."""
    from tests.conftest import PG_ENV, fresh_pg_database, require_service

    if request.param == "sqlite":
        yield start_session_server(tmp_path)
        return
    require_service("PostgreSQL", bool(os.environ.get(PG_ENV)), f"set {PG_ENV}")
    with fresh_pg_database("mm_restart") as url:
        yield start_session_server(tmp_path, database_url=url)


def test_a_restart_between_schedule_and_due_time_loses_nothing_and_sends_once(restartable):
    srv = restartable
    try:
        admin = Api(srv.base, srv.admin_key)
        box = unique_address()
        admin.ok("POST", "create_mailbox", {"address": box, "oversight_mode": "autonomous"})
        when = ahead(6)
        sent = admin.ok("POST", "send_email", {"from": box, "to": REMOTE, "subject": "Across a restart", "body": "x",
                                               "send_at": when})
        assert sent["status"] == "scheduled"
        srv.restart()
        admin = Api(srv.base, srv.admin_key)
        assert admin.ok("GET", "read_email", message_id=sent["message_id"])["status"] in ("scheduled", "sent")
        wait_status(admin, sent["message_id"], "sent", timeout=30)
        rows = srv.query("SELECT captured_at, rcpt_tos FROM captured_mail WHERE message_id = :m", m=sent["message_id"])
        assert len(rows) == 1
        at = rows[0][0] if isinstance(rows[0][0], datetime) else datetime.fromisoformat(str(rows[0][0]))
        assert (at if at.tzinfo else at.replace(tzinfo=UTC)) >= parse_time(when)
        rcpt = rows[0][1]
        assert (json.loads(rcpt) if isinstance(rcpt, str) else rcpt) == [REMOTE]  # SQLite answers JSON as text
    finally:
        srv.stop()


def test_approval_on_timeout_still_waits_for_send_at(tmp_path):
    """on_timeout: approve approves a held scheduled message ahead of its time; it must still
    wait for its send_at, as a human's approval does."""
    srv = start_session_server(tmp_path, env={"MULTIMAIL_ALLOW_APPROVE_ON_TIMEOUT": "true",
                                              "MULTIMAIL_APPROVAL_POLL_SECONDS": "0.2"})
    try:
        admin = Api(srv.base, srv.admin_key)
        box = unique_address()
        admin.ok("POST", "create_mailbox", {"address": box, "oversight_mode": "gated_send", "approval_timeout": 1,
                                            "on_timeout": "approve"})
        when = ahead(8)
        sent = admin.ok("POST", "send_email", {"from": box, "to": REMOTE, "subject": "Approved by the clock", "body": "x",
                                               "send_at": when})
        assert sent["status"] == "pending"
        approved = wait_status(admin, sent["message_id"], "scheduled", timeout=20)
        assert approved["approval_status"] == "approved"
        wait_status(admin, sent["message_id"], "sent", timeout=30)
        [(at,)] = srv.query("SELECT captured_at FROM captured_mail WHERE message_id = :m", m=sent["message_id"])
        at = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
        assert (at if at.tzinfo else at.replace(tzinfo=UTC)) >= parse_time(when)
    finally:
        srv.stop()
