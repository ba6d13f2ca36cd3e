"""Oversight over HTTP: each mode's effect on send / reply / decide, and per-call overrides."""

import pytest

from .helpers import all_audit, assert_error, new_address, snapshot, wait_status

# mode -> (send_email, reply_email, decide_email): the status of the answer, or a 403 code.
EXPECTED = {
    "read_only": ("oversight_read_only", "oversight_read_only", "oversight_read_only"),
    "gated_all": ("pending", "pending", "pending"),
    "gated_send": ("pending", "queued", "pending"),
    "monitored": ("queued", "queued", "queued"),
    "autonomous": ("queued", "queued", "queued"),
}


@pytest.mark.parametrize("mode", list(EXPECTED))
def test_mode_effect_on_send_reply_decide(admin, agent, mailbox, inbound, mode):
    box = mailbox(oversight_mode=mode)
    parent = inbound(box)
    key = agent(box)  # the agent that the mailbox's mode is for
    calls = {
        "send": ("send_email", {"from": box, "to": new_address(), "subject": f"New {mode}", "body": "x"}),
        "reply": ("reply_email", {"message_id": parent["message_id"], "body": f"Reply {mode}"}),
        "decide": ("decide_email", {"from": box, "to": new_address(), "question": f"Decide {mode}?", "options": ["a", "b"]}),
    }
    for (name, (verb, body)), expected in zip(calls.items(), EXPECTED[mode]):
        before = snapshot(admin, box)
        r = key.post(verb, body)
        if expected.startswith("oversight_"):
            assert_error(r, 403, expected)
            assert snapshot(admin, box) == before, f"{name} refused but something changed"
            continue
        assert r.status_code == 200, f"{name}: {r.text}"
        answer = r.json()
        assert answer["oversight_mode"] == mode, name
        assert answer["status"] == expected, f"{mode} {name}: {answer}"
        pending = {m["message_id"]: m["status"] for m in admin.ok("GET", "list_pending", mailbox=box)["messages"]}
        if expected == "pending":
            assert pending[answer["message_id"]] == "pending"
            assert answer["approval_status"] == "pending"
        else:
            assert answer["message_id"] not in pending
            wait_status(admin, answer["message_id"], "sent")


def test_read_only_may_read_and_tag(admin, agent, mailbox, inbound):
    box = mailbox(oversight_mode="read_only")
    msg = inbound(box)
    key = agent(box)
    assert [m["message_id"] for m in key.ok("GET", "check_inbox", mailbox=box)["messages"]] == [msg["message_id"]]
    assert key.ok("GET", "read_email", message_id=msg["message_id"])["read"] is True
    assert key.ok("POST", "tag_email", {"message_id": msg["message_id"], "tags": ["seen"]})["tags"] == {"seen": ""}


def test_pending_message_never_goes_out_without_approval(admin, mailbox):
    box = mailbox(oversight_mode="gated_all")
    sent = admin.ok("POST", "send_email", {"from": box, "to": new_address(), "subject": "Held", "body": "x"})
    assert sent["status"] == "pending"
    import time

    time.sleep(1.5)  # more than the delivery worker's poll interval
    full = admin.ok("GET", "read_email", message_id=sent["message_id"])
    assert full["status"] == "pending" and full["sent_at"] is None
    assert "message.sent" not in [e["action"] for e in all_audit(admin, message_id=sent["message_id"])]


@pytest.mark.parametrize("default,floor,override,expected", [
    # Tightening is always allowed.
    ("autonomous", "autonomous", "gated_all", "pending"),
    ("autonomous", "autonomous", "gated_send", "pending"),
    ("autonomous", "autonomous", "monitored", "queued"),
    ("monitored", "monitored", "gated_all", "pending"),
    ("autonomous", "autonomous", "read_only", 403),
    # Loosening below the floor is refused.
    ("gated_send", "gated_send", "autonomous", 403),
    ("gated_send", "gated_send", "monitored", 403),
    ("gated_all", "gated_send", "monitored", 403),
    # Loosening within the floor is allowed.
    ("gated_send", "autonomous", "autonomous", "queued"),
    ("gated_all", "monitored", "monitored", "queued"),
    ("gated_all", "gated_send", "gated_send", "pending"),
    # Naming the default is the default.
    ("gated_send", "gated_send", "gated_send", "pending"),
])
def test_per_call_override(admin, agent, mailbox, default, floor, override, expected):
    box = mailbox(oversight_mode=default, min_oversight=floor)
    key = agent(box)
    before = snapshot(admin, box)
    r = key.post("send_email", {"from": box, "to": new_address(), "subject": "Override", "body": "x", "oversight_mode": override})
    if expected == 403:
        err = assert_error(r, 403)
        assert err["code"] in ("oversight_override_forbidden", "oversight_read_only")
        if override != "read_only":
            assert err["code"] == "oversight_override_forbidden"
            assert err["details"]["min_oversight"] == floor
        assert snapshot(admin, box) == before
        return
    assert r.status_code == 200, r.text
    assert r.json()["oversight_mode"] == override  # the answer states the applied mode
    assert r.json()["status"] == expected
    assert admin.ok("GET", "read_email", message_id=r.json()["message_id"])["oversight_mode"] == override


def test_override_on_reply(admin, agent, mailbox, inbound):
    box = mailbox(oversight_mode="gated_send")
    parent = inbound(box)
    key = agent(box)
    held = key.ok("POST", "reply_email", {"message_id": parent["message_id"], "body": "careful", "oversight_mode": "gated_all"})
    assert (held["status"], held["oversight_mode"]) == ("pending", "gated_all")
    assert_error(key.post("reply_email", {"message_id": parent["message_id"], "body": "loose", "oversight_mode": "autonomous"}),
                 403, "oversight_override_forbidden")


def test_floor_change_by_admin_allows_loosening(admin, agent, mailbox):
    box = mailbox(oversight_mode="gated_send")
    key = agent(box)
    body = {"from": box, "to": new_address(), "subject": "Loose", "body": "x", "oversight_mode": "monitored"}
    assert_error(key.post("send_email", body), 403, "oversight_override_forbidden")
    admin.ok("POST", "update_mailbox", {"mailbox": box, "min_oversight": "monitored"})
    assert key.ok("POST", "send_email", body)["oversight_mode"] == "monitored"


def test_gated_send_reply_to_unsent_message_is_held(admin, agent, mailbox):
    """A "reply" to our own message that never went out is a new conversation, not a reply in an
    existing thread: under gated_send it must wait for approval like the message it follows."""
    box = mailbox(oversight_mode="gated_send")
    key = agent(box)
    first = key.ok("POST", "send_email", {"from": box, "to": new_address(), "subject": "Cold email", "body": "Buy now"})
    assert first["status"] == "pending"
    follow_up = key.ok("POST", "reply_email", {"message_id": first["message_id"], "body": "Buy now!!"})
    assert follow_up["status"] == "pending"
    # Once the first went out, a follow-up is a reply in the thread.
    admin.ok("POST", "approve_message", {"message_id": first["message_id"]})
    wait_status(admin, first["message_id"])
    follow_up2 = key.ok("POST", "reply_email", {"message_id": first["message_id"], "body": "Any news?"})
    assert follow_up2["status"] == "queued"


def test_gated_send_reply_that_adds_recipients_is_held(admin, agent, mailbox, inbound, outside):
    """Adding a stranger in cc/bcc of a reply starts a conversation with them: held under gated_send."""
    box = mailbox(oversight_mode="gated_send")
    parent = inbound(box)
    key = agent(box)
    for extra in ({"bcc": new_address("stranger")}, {"cc": [new_address("stranger")]}):
        r = key.ok("POST", "reply_email", {"message_id": parent["message_id"], "body": f"with {extra}", **extra})
        assert r["status"] == "pending", extra
    # Copying someone already in the conversation is still a reply: `outside()` is the
    # authenticated sender of the parent (local delivery from a hosted mailbox), and only the
    # authenticated From (or recipients a human approved in the thread) counts as in it.
    same = key.ok("POST", "reply_email", {"message_id": parent["message_id"], "body": "cc the sender", "cc": outside()})
    assert same["status"] == "queued"
