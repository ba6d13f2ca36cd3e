"""Approval policies over real HTTP (SQLite and PostgreSQL): the mailbox fields, N of M with two
approver keys, the kill switch, and what an agent key may not change."""

from __future__ import annotations

import time

from .helpers import assert_error, wait_status


def test_policy_fields_round_trip_and_are_checked(admin, mailbox):
    box = mailbox(oversight_mode="gated_send", approvers=["Boss <Boss@Partner.test>", "ceo@plain.test"],
                  approvals_required=2, approval_timeout=3600, on_timeout="escalate", escalate_to=["board@plain.test"])
    view = next(m for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == box)
    assert view["approvers"] == ["boss@partner.test", "ceo@plain.test"]
    assert (view["approvals_required"], view["approval_timeout"], view["on_timeout"]) == (2, 3600, "escalate")
    assert view["escalate_to"] == ["board@plain.test"] and view["digest"] is None
    updated = admin.ok("POST", "update_mailbox", {"mailbox": box, "approval_timeout": 0, "approvers": [], "digest": "daily"})
    assert updated["approval_timeout"] is None and updated["approvers"] == [] and updated["digest"] == "daily"
    for body, field in (({"approvals_required": 0}, "approvals_required"), ({"approvers": ["not an address"]}, "approvers[0]"),
                        ({"approval_timeout": -1}, "approval_timeout")):
        err = assert_error(admin.post("update_mailbox", {"mailbox": box, **body}), 400)
        assert err["details"].get("field") == field, err
    assert_error(admin.post("update_mailbox", {"mailbox": box, "on_timeout": "maybe"}), 400)
    # Escalation needs someone to escalate to; approve on timeout needs the operator's consent.
    assert_error(admin.post("create_mailbox", {"address": f"x{time.time_ns()}@acme.test", "approval_timeout": 60,
                                               "on_timeout": "escalate"}), 400)
    err = assert_error(admin.post("update_mailbox", {"mailbox": box, "approval_timeout": 60, "on_timeout": "approve"}), 403,
                       "approve_on_timeout_not_allowed")
    assert "MULTIMAIL_ALLOW_APPROVE_ON_TIMEOUT" in err["message"]
    assert next(m for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == box)["on_timeout"] == "escalate"


def test_an_agent_key_changes_no_policy_and_cannot_pause(admin, mailbox, agent):
    box = mailbox(oversight_mode="gated_send", approvers=["boss@partner.test"], approvals_required=2)
    bot = agent(box)
    assert_error(bot.post("update_mailbox", {"mailbox": box, "approvals_required": 1}), 403)
    assert_error(bot.post("update_mailbox", {"mailbox": box, "approvers": []}), 403)
    assert_error(bot.post("pause_outbound", {"mailbox": box}), 403)
    assert_error(bot.post("resume_outbound", {}), 403)
    # Nor can it approve on timeout for its own message.
    err = assert_error(bot.post("send_email", {"from": box, "to": "x@partner.test", "subject": "s", "body": "b",
                                               "approval_timeout": 5, "on_timeout": "approve"}), 403)
    assert err["code"] in ("approve_on_timeout_not_allowed", "oversight_floor")
    view = next(m for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == box)
    assert view["approvals_required"] == 2 and view["approvers"] == ["boss@partner.test"]


def test_n_of_m_with_two_approver_keys(admin, mailbox, agent, approver):
    box = mailbox(oversight_mode="gated_send", approvals_required=2)
    first, second = approver(box), approver(box)
    sent = agent(box).ok("POST", "send_email", {"from": box, "to": "x@partner.test", "subject": "Two keys", "body": "b"})
    item = first.ok("POST", "approve_message", {"message_id": sent["message_id"]})
    assert item["status"] == "pending" and len(item["approvals"]) == 1 and item["approvals_required"] == 2
    # The same approver again counts once.
    again = first.ok("POST", "approve_message", {"message_id": sent["message_id"]})
    assert again["status"] == "pending" and len(again["approvals"]) == 1
    # An edit resets the approvals collected (they were for the earlier version).
    edited = second.ok("POST", "edit_message", {"message_id": sent["message_id"], "subject": "Two keys (edited)"})
    assert edited["approvals"] == [] and edited["status"] == "pending"
    first.ok("POST", "approve_message", {"message_id": sent["message_id"], "content_hash": edited["content_hash"]})
    done = second.ok("POST", "approve_message", {"message_id": sent["message_id"], "content_hash": edited["content_hash"]})
    assert done["status"] == "approved" and len(done["approvals"]) == 2
    wait_status(admin, sent["message_id"], "sent")


def test_one_reject_rejects_under_n_of_m(admin, mailbox, agent, approver):
    box = mailbox(oversight_mode="gated_send", approvals_required=2)
    a, b = approver(box), approver(box)
    sent = agent(box).ok("POST", "send_email", {"from": box, "to": "x@partner.test", "subject": "One no", "body": "b"})
    a.ok("POST", "approve_message", {"message_id": sent["message_id"]})
    item = b.ok("POST", "reject_message", {"message_id": sent["message_id"], "reason": "no"})
    assert item["status"] == "rejected" and item["decision_note"] == "no"


def test_kill_switch_pauses_and_resume_releases_in_order(admin, mailbox, agent):
    box = mailbox(oversight_mode="autonomous")
    other = mailbox(oversight_mode="autonomous")
    paused = admin.ok("POST", "pause_outbound", {"mailbox": box, "reason": "incident"})
    assert [p["mailbox"] for p in paused["paused"]] == [box]
    bot = agent(box, other)
    ids = [bot.ok("POST", "send_email", {"from": box, "to": "x@partner.test", "subject": f"Queued {i}", "body": "b"})["message_id"]
           for i in range(3)]
    unaffected = bot.ok("POST", "send_email", {"from": other, "to": "x@partner.test", "subject": "Other", "body": "b"})
    wait_status(admin, unaffected["message_id"], "sent")
    time.sleep(2.5)  # two delivery passes at least
    assert [admin.ok("GET", "read_email", message_id=i)["status"] for i in ids] == ["queued"] * 3
    # Pausing everything, then lifting only that, leaves the mailbox's own pause in force.
    admin.ok("POST", "pause_outbound", {})
    assert len(admin.ok("GET", "list_paused")["paused"]) == 2
    admin.ok("POST", "resume_outbound", {})
    time.sleep(1.5)
    assert admin.ok("GET", "read_email", message_id=ids[0])["status"] == "queued"
    assert admin.ok("POST", "resume_outbound", {"mailbox": box})["paused"] == []
    sent = [wait_status(admin, i, "sent") for i in ids]
    assert [m["sent_at"] for m in sent] == sorted(m["sent_at"] for m in sent)
    actions = [e["action"] for e in admin.ok("GET", "audit_log", mailbox=box, limit=100)["events"]]
    assert "outbound.paused" in actions and "outbound.resumed" in actions


def _hhmm(minutes: int) -> str:
    minutes %= 24 * 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def test_quiet_hours_hold_mail_until_the_window_is_lifted(admin, mailbox, agent):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = datetime.now(ZoneInfo("America/New_York"))
    now = local.hour * 60 + local.minute
    box = mailbox(oversight_mode="autonomous",
                  quiet_hours={"start": _hhmm(now - 1), "end": _hhmm(now + 5), "timezone": "America/New_York"})
    view = next(m for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == box)
    assert view["quiet_hours"]["timezone"] == "America/New_York"
    sent = agent(box).ok("POST", "send_email", {"from": box, "to": "x@partner.test", "subject": "At night", "body": "b"})
    time.sleep(2.5)
    assert admin.ok("GET", "read_email", message_id=sent["message_id"])["status"] == "queued"
    for bad in ({"start": "25:00", "end": "07:00", "timezone": "UTC"}, {"start": "22:00", "end": "07:00", "timezone": "Mars/Olympus"},
                {"start": "22:00", "end": "22:00", "timezone": "UTC"}):
        assert_error(admin.post("update_mailbox", {"mailbox": box, "quiet_hours": bad}), 400)
    admin.ok("POST", "update_mailbox", {"mailbox": box, "quiet_hours": "off"})
    wait_status(admin, sent["message_id"], "sent")
