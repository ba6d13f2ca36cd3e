"""An approver edits who a held message goes to (issue 12: "Edit then approve (subject, body,
recipients)"), over real HTTP on both databases.

The new recipients are parsed as send_email parses them (a bad one is a 400 that changes
nothing), the edit is audited with the old and new lists, the content version changes (so an
approval of the version shown before is refused), and the mail is delivered to exactly the new
envelope recipients, the Bcc'd one in the envelope but in no header.
"""

from __future__ import annotations

import json
from email import message_from_bytes
from email.policy import default as default_policy

import pytest

from .helpers import all_audit, assert_error, snapshot, wait_status


def _held(admin, box) -> dict:
    sent = admin.ok("POST", "send_email", {"from": box, "to": "Ana <ana@partner.test>", "cc": "cc@partner.test",
                                           "subject": "Offer", "body": "Hello Ana."})
    assert sent["status"] == "pending", sent
    return sent


def _item(api, box, message_id) -> dict:
    return next(m for m in api.ok("GET", "list_pending", mailbox=box)["messages"] if m["message_id"] == message_id)


def test_edited_recipients_are_audited_rebind_the_approval_and_are_who_receives_it(server, admin, approver, mailbox):
    box = mailbox(oversight_mode="gated_all")
    sent = _held(admin, box)
    human = approver(box)
    shown = _item(human, box, sent["message_id"])["content_hash"]
    edited = human.ok("POST", "edit_message", {"message_id": sent["message_id"], "content_hash": shown,
                                               "to": ["Bob Buyer <bob@partner.test>"], "cc": [],
                                               "bcc": "records@partner.test", "note": "wrong person"})
    assert edited["status"] == "pending" and edited["content_hash"] != shown
    assert edited["to"] == ["Bob Buyer <bob@partner.test>"] and edited["cc"] == [] and edited["bcc"] == ["records@partner.test"]
    [event] = [e for e in all_audit(admin, message_id=sent["message_id"]) if e["action"] == "message.edited"]
    assert event["details"]["edited"] == ["bcc_addrs", "cc_addrs", "to_addrs"]
    assert event["details"]["changes"] == {
        "to": {"old": ["Ana <ana@partner.test>"], "new": ["Bob Buyer <bob@partner.test>"]},
        "cc": {"old": ["cc@partner.test"], "new": []},
        "bcc": {"old": [], "new": ["records@partner.test"]},
    }
    # The approval shown the old recipients is refused: an approval is bound to who it goes to.
    assert_error(human.post("approve_message", {"message_id": sent["message_id"], "content_hash": shown}), 409, "content_changed")
    human.ok("POST", "approve_message", {"message_id": sent["message_id"], "content_hash": edited["content_hash"]})
    wait_status(admin, sent["message_id"], "sent")
    [(rcpts, raw)] = server.query("select rcpt_tos, raw from captured_mail where message_id = :m", m=sent["message_id"])
    rcpts = json.loads(rcpts) if isinstance(rcpts, str) else rcpts
    assert sorted(rcpts) == ["bob@partner.test", "records@partner.test"]
    out = message_from_bytes(raw, policy=default_policy)
    assert str(out["To"]) == "Bob Buyer <bob@partner.test>" and out["Cc"] is None and out["Bcc"] is None


@pytest.mark.parametrize("fields, field", [
    ({"to": []}, "to"),
    ({"to": "not an address"}, "to"),
    ({"cc": ["ok@partner.test", "bad@@partner.test"]}, "cc[1]"),
    ({"bcc": "a@partner.test\r\nBcc: spy@elsewhere.test"}, "bcc"),
    ({"to": [f"r{i}@partner.test" for i in range(101)]}, "to"),
])
def test_bad_recipients_are_refused_like_a_send_and_change_nothing(admin, approver, mailbox, fields, field):
    box = mailbox(oversight_mode="gated_all")
    sent = _held(admin, box)
    before = snapshot(admin, box)
    message_before = admin.ok("GET", "read_email", message_id=sent["message_id"])
    r = approver(box).post("edit_message", {"message_id": sent["message_id"], **fields})
    err = assert_error(r, 400)
    assert err["code"] in {"invalid_address", "missing_field", "too_many_recipients", "header_injection"}, err
    assert err["details"].get("field") == field, err
    assert snapshot(admin, box) == before
    assert admin.ok("GET", "read_email", message_id=sent["message_id"]) == message_before


def test_an_agent_key_cannot_edit_recipients(admin, agent, mailbox):
    box = mailbox(oversight_mode="gated_all")
    sent = _held(admin, box)
    before = snapshot(admin, box)
    assert_error(agent(box).post("edit_message", {"message_id": sent["message_id"], "to": "me@elsewhere.test"}), 403)
    assert snapshot(admin, box) == before


def test_the_sdk_edits_recipients(server, admin, approver, mailbox):
    from multimail_server.client import MultiMail

    box = mailbox(oversight_mode="gated_all")
    sent = _held(admin, box)
    with MultiMail(api_key=approver(box).key, base_url=server.base) as client:
        shown = client.list_pending(message_id=sent["message_id"])["messages"][0]["content_hash"]
        edited = client.edit_message(sent["message_id"], to="Bob <bob@partner.test>", cc=[], content_hash=shown)
    assert edited["to"] == ["Bob <bob@partner.test>"] and edited["cc"] == [] and edited["content_hash"] != shown
