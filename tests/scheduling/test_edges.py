"""Issue 15's audit, scheduled send and forward: the MCP forward_email and reply_email's send_at,
a send_at in the past or years ahead on every route that takes one (verb and hosted reply, hosted
send), and the suppression list against mail that was accepted before an address was suppressed
or that an edit or a forward would send to it."""

from __future__ import annotations

import base64
import secrets
from email import message_from_bytes
from email.policy import default as default_policy

import anyio
import pytest

from tests.api.helpers import assert_error, find_in_inbox, snapshot, wait_status
from tests.conftest import wait_for
from tests.hosted.conftest import Hosted
from tests.mcp.conftest import http_client, stdio_client

from .conftest import ahead

REMOTE = "ana@partner.test"
PDF = b"%PDF-1.4\n" + secrets.token_bytes(1024) + b"\n%%EOF\n"
BAD_TIMES = [(lambda: ahead(-3600), "send_at_in_past"), (lambda: ahead(400 * 86400), "send_at_too_far"),
             (lambda: "tomorrow at noon", "invalid_send_at")]


def _with_attachment(admin, outside, box: str) -> dict:
    subject = f"Invoice {secrets.token_hex(3)}"
    admin.ok("POST", "send_email", {"from": outside(), "to": box, "subject": subject, "body": "Please pay by Friday.",
                                    "attachments": [{"filename": "invoice.pdf", "content_type": "application/pdf",
                                                     "content_base64": base64.b64encode(PDF).decode()}]})
    return find_in_inbox(admin, box, subject)


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_mcp_forward_email_carries_the_attachments_and_is_held_as_a_send(server, admin, agent, approver, mailbox, outside,
                                                                         captured, transport):
    box = mailbox(oversight_mode="gated_send")
    key, human = agent(box), approver(box)
    original = _with_attachment(admin, outside, box)
    admin.ok("POST", "add_suppression", {"mailbox": box, "address": "kim@partner.test"})
    connect = stdio_client if transport == "stdio" else http_client

    async def main():
        async with connect(server.base, key.key) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            before = snapshot(admin, box)
            bad = [await c.call_tool("forward_email", {"email_id": original["message_id"], "to": []}),
                   await c.call_tool("forward_email", {"email_id": original["message_id"], "to": ["not an address"]}),
                   await c.call_tool("forward_email", {"email_id": "msg_nothing", "to": [REMOTE]}),
                   await c.call_tool("forward_email", {"email_id": original["message_id"], "to": [REMOTE],
                                                       "bcc": ["Kim+Fwd@PARTNER.test"]})]
            after_bad = snapshot(admin, box)
            fwd = await c.call_tool("forward_email", {"email_id": original["message_id"], "to": [REMOTE], "note": "For the books."})
        return tools, before, bad, after_bad, fwd

    tools, before, bad, after_bad, fwd = anyio.run(main)
    assert set(tools["forward_email"].input_schema["required"]) == {"email_id", "to"}
    assert all(r.is_error for r in bad) and before == after_bad
    assert bad[2].structured_content["error"]["code"] == "message_not_found"
    assert bad[3].structured_content["error"]["code"] == "suppressed"
    assert not fwd.is_error, fwd.content
    sent = fwd.structured_content
    assert (sent["status"], sent["approval_status"]) == ("pending", "pending")  # gated: held as a send is
    assert sent["thread_id"] != original["thread_id"]
    assert captured(sent["message_id"]) == []
    human.ok("POST", "approve_message", {"message_id": sent["message_id"]})
    wait_status(key, sent["message_id"], "sent")
    [(_, rcpt, raw)] = captured(sent["message_id"])
    mail = message_from_bytes(raw, policy=default_policy)
    assert rcpt == [REMOTE] and mail["Subject"].startswith("Fwd: ")
    assert "For the books." in mail.get_body(("plain",)).get_content()
    [attached] = list(mail.iter_attachments())
    assert (attached.get_filename(), attached.get_content()) == ("invoice.pdf", PDF)


def test_mcp_reply_email_takes_send_at_and_refuses_bad_times(server, admin, agent, mailbox, inbound):
    box = mailbox(oversight_mode="autonomous")
    key = agent(box)
    incoming = inbound(box)

    async def main():
        async with http_client(server.base, key.key) as c:
            later = await c.call_tool("reply_email", {"email_id": incoming["message_id"], "markdown": "Tomorrow.",
                                                      "send_at": ahead(600)})
            before = snapshot(admin, box)
            refused = [await c.call_tool("reply_email", {"email_id": incoming["message_id"], "markdown": "x", "send_at": make()})
                       for make, _ in BAD_TIMES]
            moved = [await c.call_tool("edit_scheduled_email", {"email_id": later.structured_content["message_id"],
                                                                "send_at": make()}) for make, _ in BAD_TIMES]
            return later, before, refused, moved, snapshot(admin, box)

    later, before, refused, moved, after = anyio.run(main)
    assert not later.is_error, later.content
    assert later.structured_content["status"] == "scheduled" and later.structured_content["send_at"]
    assert [r.structured_content["error"]["code"] for r in refused] == [code for _, code in BAD_TIMES]
    assert [r.structured_content["error"]["code"] for r in moved] == [code for _, code in BAD_TIMES]
    assert before == after
    assert key.ok("GET", "read_email", message_id=later.structured_content["message_id"])["send_at"] == later.structured_content["send_at"]
    key.ok("POST", "cancel_message", {"message_id": later.structured_content["message_id"]})


def test_mcp_send_email_refuses_a_time_years_ahead(server, admin, agent, mailbox):
    box = mailbox(oversight_mode="autonomous")

    async def main():
        async with http_client(server.base, agent(box).key) as c:
            return [await c.call_tool(tool, {"to": [REMOTE], "subject": "x", "markdown": "x", "send_at": make()})
                    for tool in ("send_email", "schedule_email") for make, _ in BAD_TIMES]

    before = snapshot(admin, box)
    results = anyio.run(main)
    assert [r.structured_content["error"]["code"] for r in results] == [code for _, code in BAD_TIMES] * 2
    assert all(r.structured_content["error"]["details"]["field"] == "send_at" for r in results)
    assert snapshot(admin, box) == before


def test_hosted_send_and_reply_refuse_a_time_in_the_past_or_years_ahead(server, admin, agent, mailbox, inbound):
    box = mailbox(oversight_mode="autonomous")
    h = Hosted(server.base, agent(box).key)
    incoming = inbound(box)
    before = snapshot(admin, box)
    for make, code in BAD_TIMES:
        err = assert_error(h.call("POST", f"/v1/mailboxes/{box}/send", {"to": [REMOTE], "subject": "x", "markdown": "x",
                                                                        "send_at": make()}), 400, code)
        assert err["details"]["field"] == "send_at"
        assert_error(h.call("POST", f"/v1/mailboxes/{box}/reply/{incoming['message_id']}", {"markdown": "x", "send_at": make()}),
                     400, code)
    assert snapshot(admin, box) == before
    later = h.ok("POST", f"/v1/mailboxes/{box}/reply/{incoming['message_id']}", {"markdown": "Later.", "send_at": ahead(600)},
                 expect=202)
    assert later["status"] == "scheduled" and later["send_at"]
    for make, code in BAD_TIMES:
        assert_error(h.call("PATCH", f"/v1/mailboxes/{box}/emails/{later['id']}/schedule", {"send_at": make()}), 400, code)
    assert h.ok("GET", f"/v1/mailboxes/{box}/emails/{later['id']}")["send_at"] == later["send_at"]
    h.ok("POST", f"/v1/mailboxes/{box}/emails/{later['id']}/cancel")


def test_verb_reply_refuses_bad_times(admin, agent, mailbox, inbound):
    box = mailbox(oversight_mode="autonomous")
    key = agent(box)
    incoming = inbound(box)
    before = snapshot(admin, box)
    for make, code in BAD_TIMES:
        assert_error(key.post("reply_email", {"message_id": incoming["message_id"], "body": "x", "send_at": make()}), 400, code)
    assert snapshot(admin, box) == before


def test_an_edit_cannot_add_a_suppressed_address_in_any_spelling(admin, agent, mailbox):
    box = mailbox(oversight_mode="autonomous")
    key = agent(box)
    admin.ok("POST", "add_suppression", {"mailbox": box, "address": "kim@bücher.test"})
    sent = key.ok("POST", "send_email", {"from": box, "to": REMOTE, "subject": "Later", "body": "x", "send_at": ahead(600)})
    for form in ("KIM@xn--bcher-kva.test", "kim+later@BÜCHER.test"):
        err = assert_error(key.post("edit_scheduled_email", {"message_id": sent["message_id"], "cc": [form]}), 409, "suppressed")
        assert err["details"]["suppressed_address"] == "kim@xn--bcher-kva.test"
    view = key.ok("GET", "read_email", message_id=sent["message_id"])
    assert (view["cc"], view["status"]) == ([], "scheduled")
    key.ok("POST", "cancel_message", {"message_id": sent["message_id"]})


def test_a_scheduled_message_is_not_sent_to_an_address_suppressed_before_it_falls_due(admin, server, agent, mailbox, captured):
    """A hard bounce or complaint can arrive while a message waits for its time: the list refuses
    further sends, so it must refuse this one when it falls due, not only when it was submitted."""
    box = mailbox(oversight_mode="autonomous")
    key = agent(box)
    sent = key.ok("POST", "send_email", {"from": box, "to": ["Kim+Later@Partner.test"], "subject": "Due soon", "body": "x",
                                         "send_at": ahead(3)})
    assert sent["status"] == "scheduled"
    admin.ok("POST", "add_suppression", {"mailbox": box, "address": "kim@partner.test", "detail": "complained by phone"})
    view = wait_for(lambda: (v := key.ok("GET", "read_email", message_id=sent["message_id"]))["status"] != "scheduled" and v,
                    timeout=30, what="the scheduled message to fall due")
    assert view["status"] == "failed" and "suppress" in view["failure_reason"]
    assert captured(sent["message_id"]) == []
    actions = [r[0] for r in server.query("SELECT type FROM events WHERE message_id = :m ORDER BY seq", m=sent["message_id"])]
    assert "message.failed" in actions


def test_approving_a_held_message_to_an_address_suppressed_meanwhile_is_refused(admin, agent, approver, mailbox, captured):
    box = mailbox(oversight_mode="gated_send")
    key, human = agent(box), approver(box)
    held = key.ok("POST", "send_email", {"from": box, "to": REMOTE, "subject": "Held", "body": "x"})
    assert held["status"] == "pending"
    admin.ok("POST", "add_suppression", {"mailbox": box, "address": "ANA@partner.test", "detail": "bounced elsewhere"})
    err = assert_error(human.post("approve_message", {"message_id": held["message_id"]}), 409, "suppressed")
    assert err["details"]["suppressed_address"] == REMOTE
    view = key.ok("GET", "read_email", message_id=held["message_id"])
    assert (view["status"], view["approval_status"]) == ("pending", "pending")
    assert captured(held["message_id"]) == []
    # Nor can the approver edit the suppressed address in.
    assert_error(human.post("edit_message", {"message_id": held["message_id"], "cc": ["Ana+Cc@Partner.test"]}), 409, "suppressed")
    assert key.ok("GET", "read_email", message_id=held["message_id"])["cc"] == []
    # Once the entry is removed the approver may approve it after all.
    human.ok("POST", "remove_suppression", {"mailbox": box, "address": REMOTE})
    human.ok("POST", "approve_message", {"message_id": held["message_id"]})
    wait_status(key, held["message_id"], "sent")


def test_a_contacts_only_mailbox_holds_a_forward_or_scheduled_reply_to_a_stranger(admin, agent, approver, mailbox, inbound):
    """contacts_only applies to every kind of send that would leave on its own: a forward (a new
    conversation) and a scheduled one, not only send_email."""
    box = mailbox(oversight_mode="autonomous", contacts_only=True)
    key, human = agent(box), approver(box)
    human.ok("POST", "add_contact", {"mailbox": box, "email": REMOTE})
    original = inbound(box)
    to_contact = key.ok("POST", "forward_email", {"message_id": original["message_id"], "to": "ANA@partner.test"})
    assert to_contact["status"] in ("queued", "sent")
    to_stranger = key.ok("POST", "forward_email", {"message_id": original["message_id"], "to": REMOTE, "cc": ["zed@partner.test"]})
    assert (to_stranger["status"], to_stranger["approval_status"]) == ("pending", "pending")
    later = key.ok("POST", "send_email", {"from": box, "to": "zed@partner.test", "subject": "Later", "body": "x", "send_at": ahead(600)})
    assert (later["status"], later["approval_status"]) == ("pending", "pending")
    pending = {m["message_id"] for m in human.ok("GET", "list_pending", mailbox=box)["messages"]}
    assert {to_stranger["message_id"], later["message_id"]} <= pending
    for m in (to_stranger, later):
        key.ok("POST", "cancel_message", {"message_id": m["message_id"]})
