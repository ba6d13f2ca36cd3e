"""Messages, tags and the pending list through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from multimail_server.core.errors import Conflict
from multimail_server.services import approvals, reading, receiving, sending
from multimail_server.store import tables as t


def inbound(ctx, to: str, *, subject: str, body: str = "hello", sender: str = "Ana Analyst <ana@partner.test>") -> str:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = make_msgid(domain="partner.test")
    msg.set_content(body)
    [message_id] = receiving.receive(ctx, raw=msg.as_bytes(), mail_from="ana@partner.test", rcpt_tos=[to])
    return message_id


def test_an_outbound_message_round_trips_every_field(ctx, new_mailbox, operator, db):
    box = new_mailbox(oversight_mode="gated_send", display_name="Ops Bot")
    payload = b"\x00\x01binary\xff" * 10
    sent = sending.send_email(
        ctx, principal=operator, sender=box, to=["Bo <bo@partner.test>", "cy@partner.test"], cc="dee@partner.test",
        subject="Résumé ✓ — 日本", body="Line one\nLine two ✓", html="<p>Line one</p>",
        attachments=[{"filename": "data.bin", "content_type": "application/octet-stream",
                      "content_base64": base64.b64encode(payload).decode()}],
        metadata={"run": {"id": 7, "tags": ["a", "b"]}},
    )
    assert sent["status"] == "pending" and sent["duplicate"] is False
    got = reading.read_email(ctx, principal=operator, message_id=sent["message_id"])
    assert got["subject"] == "Résumé ✓ — 日本"
    assert got["body"] == "Line one\nLine two ✓" and got["html"] == "<p>Line one</p>"
    assert got["to"] == ["Bo <bo@partner.test>", "cy@partner.test"] and got["cc"] == ["dee@partner.test"]
    assert got["from"] == f"Ops Bot <{box}>"
    assert got["metadata"] == {"run": {"id": 7, "tags": ["a", "b"]}}
    assert got["created_at"] == ctx.now().isoformat().replace("+00:00", "Z")
    [att] = got["attachments"]
    assert (att["filename"], att["size"]) == ("data.bin", len(payload))
    stored = reading.get_attachment(ctx, principal=operator, message_id=sent["message_id"], attachment_id=att["attachment_id"])
    assert stored["content"] == payload
    [row] = db.rows(t.messages, id=sent["message_id"])
    assert row["created_at"].tzinfo is not None and row["created_at"] == ctx.now()
    assert db.count(t.threads, id=sent["thread_id"]) == 1


def test_tags_set_replace_remove_and_filter_the_inbox(ctx, new_mailbox, operator, db):
    box = new_mailbox()
    first = inbound(ctx, box, subject="one")
    second = inbound(ctx, box, subject="two")

    assert reading.tag_email(ctx, principal=operator, message_id=first, tags=["processed"])["tags"] == {"processed": ""}
    assert reading.tag_email(ctx, principal=operator, message_id=first, tags={"lead": "hot", "processed": "yes"})["tags"] == {
        "lead": "hot", "processed": "yes"}
    audits = db.count(t.audit_events, action="message.tagged")
    # Tagging is idempotent: the same tags again change nothing and record nothing.
    assert reading.tag_email(ctx, principal=operator, message_id=first, tags={"lead": "hot"})["tags"] == {
        "lead": "hot", "processed": "yes"}
    assert db.count(t.audit_events, action="message.tagged") == audits
    assert db.count(t.message_tags, message_id=first) == 2

    def subjects(**filters):
        return [m["subject"] for m in reading.check_inbox(ctx, principal=operator, mailbox=box, **filters)["messages"]]

    assert subjects() == ["two", "one"]
    assert subjects(tag="processed") == ["one"]
    assert subjects(exclude_tag="processed") == ["two"]

    after = reading.tag_email(ctx, principal=operator, message_id=first, remove=["processed"])
    assert after["tags"] == {"lead": "hot"}
    assert subjects(tag="processed") == []
    assert db.count(t.message_tags, message_id=second) == 0


def test_concurrent_tagging_of_one_message_never_fails(ctx, new_mailbox, operator, db):
    """Many workers tag the same message with the same key at once (an agent fleet marking mail
    `processed`): every call succeeds and the key is stored once."""
    box = new_mailbox()
    message_id = inbound(ctx, box, subject="busy")
    n = 12
    barrier = threading.Barrier(n)

    def tag(i: int):
        barrier.wait()
        return reading.tag_email(ctx, principal=operator, message_id=message_id, tags={"processed": f"worker-{i}", "seen": ""})

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(tag, range(n)))
    assert all(set(r["tags"]) == {"processed", "seen"} for r in results)
    assert db.count(t.message_tags, message_id=message_id) == 2
    final = reading.read_email(ctx, principal=operator, message_id=message_id)["tags"]
    assert final["processed"] in {f"worker-{i}" for i in range(n)}


def test_inbox_pages_are_stable_under_concurrent_inserts(ctx, new_mailbox, operator):
    box = new_mailbox()
    for i in range(5):
        inbound(ctx, box, subject=f"m{i}")
    page1 = reading.check_inbox(ctx, principal=operator, mailbox=box, limit=2)
    inbound(ctx, box, subject="late arrival")  # lands between page fetches
    page2 = reading.check_inbox(ctx, principal=operator, mailbox=box, limit=2, cursor=page1["next_cursor"])
    page3 = reading.check_inbox(ctx, principal=operator, mailbox=box, limit=2, cursor=page2["next_cursor"])
    seen = [m["subject"] for p in (page1, page2, page3) for m in p["messages"]]
    assert seen == ["m4", "m3", "m2", "m1", "m0"]
    assert page3["next_cursor"] is None


def test_pending_list_keeps_decisions_for_24_hours(ctx, clock, new_mailbox, operator, principal_for):
    box = new_mailbox(oversight_mode="gated_send")
    agent = principal_for("agent", [box])
    approver = principal_for("approver", [box])
    ids = {
        name: sending.send_email(ctx, principal=agent, sender=box, to="x@partner.test", subject=name, body=name)["message_id"]
        for name in ("approve", "reject", "cancel", "wait")
    }
    clock.advance(minutes=5)
    decided_at = ctx.now()
    approvals.approve_message(ctx, principal=approver, message_id=ids["approve"], note="ok")
    approvals.reject_message(ctx, principal=approver, message_id=ids["reject"], reason="no")
    approvals.cancel_message(ctx, principal=agent, message_id=ids["cancel"])

    def listing(principal=agent):
        return {m["message_id"]: m for m in approvals.list_pending(ctx, principal=principal)["messages"]}

    now = listing()
    assert {mid: now[mid]["status"] for mid in ids.values()} == {
        ids["approve"]: "approved", ids["reject"]: "rejected", ids["cancel"]: "cancelled", ids["wait"]: "pending"}
    assert now[ids["approve"]]["decided_by"] == approver.label
    assert now[ids["cancel"]]["decided_by"] == agent.label
    assert now[ids["approve"]]["decided_at"] == decided_at.isoformat().replace("+00:00", "Z")
    assert now[ids["wait"]]["decided_at"] is None
    assert listing(approver).keys() == now.keys()

    clock.advance(hours=23, minutes=59)  # just under 24 h after the decisions: all still listed
    assert set(listing()) == set(ids.values())
    clock.advance(minutes=2)  # past 24 h: only the undecided one is left
    assert set(listing()) == {ids["wait"]}
    clock.advance(days=30)  # an undecided message never drops off
    assert set(listing()) == {ids["wait"]}


def test_pending_list_is_scoped_to_the_keys_mailboxes(ctx, new_mailbox, principal_for):
    mine, theirs = new_mailbox(oversight_mode="gated_all"), new_mailbox(oversight_mode="gated_all")
    me, them = principal_for("agent", [mine]), principal_for("agent", [theirs])
    sending.send_email(ctx, principal=me, sender=mine, to="x@partner.test", subject="mine", body=".")
    sending.send_email(ctx, principal=them, sender=theirs, to="x@partner.test", subject="theirs", body=".")
    assert [m["subject"] for m in approvals.list_pending(ctx, principal=me)["messages"]] == ["mine"]


def test_a_cancel_after_approval_never_leaves_an_approval_that_never_goes_out(ctx, new_mailbox, principal_for, db):
    """No delivery worker runs here, so the approved message's outbox row is untouched when the
    agent cancels. Either the cancel is refused, or it wins completely: the row leaves the
    outbox and list_pending says `cancelled` (a poller must never wait on an `approved` that
    will not arrive)."""
    box = new_mailbox(oversight_mode="gated_send")
    agent, approver = principal_for("agent", [box]), principal_for("approver", [box])
    mid = sending.send_email(ctx, principal=agent, sender=box, to="x@partner.test", subject="s", body="b")["message_id"]
    approvals.approve_message(ctx, principal=approver, message_id=mid)
    try:
        approvals.cancel_message(ctx, principal=agent, message_id=mid)
    except Conflict:
        [row] = db.rows(t.messages, id=mid)
        assert (row["status"], row["approval_status"]) == ("queued", "approved")
        assert [r["state"] for r in db.rows(t.outbox, message_id=mid)] == ["ready"]
        return
    [row] = db.rows(t.messages, id=mid)
    assert (row["status"], row["approval_status"]) == ("cancelled", "cancelled")
    assert [r["state"] for r in db.rows(t.outbox, message_id=mid)] == ["cancelled"]
    listed = {m["message_id"]: m["status"] for m in approvals.list_pending(ctx, principal=agent)["messages"]}
    assert listed[mid] == "cancelled"


def test_cancel_after_approval_is_refused(ctx, new_mailbox, principal_for):
    box = new_mailbox(oversight_mode="gated_send")
    agent, approver = principal_for("agent", [box]), principal_for("approver", [box])
    mid = sending.send_email(ctx, principal=agent, sender=box, to="x@partner.test", subject="s", body="b")["message_id"]
    approvals.approve_message(ctx, principal=approver, message_id=mid)
    with pytest.raises(Conflict):
        approvals.cancel_message(ctx, principal=agent, message_id=mid)


def test_approve_then_cancel_or_reject_is_a_conflict_and_changes_nothing(ctx, new_mailbox, principal_for, db):
    box = new_mailbox(oversight_mode="gated_send")
    agent, approver = principal_for("agent", [box]), principal_for("approver", [box])
    mid = sending.send_email(ctx, principal=agent, sender=box, to="x@partner.test", subject="s", body="b")["message_id"]
    approvals.reject_message(ctx, principal=approver, message_id=mid, reason="no")
    before = db.snapshot()
    for act in (approvals.approve_message, approvals.reject_message, approvals.cancel_message):
        with pytest.raises(Conflict):
            act(ctx, principal=approver, message_id=mid)
    assert db.snapshot() == before
    [row] = db.rows(t.messages, id=mid)
    assert (row["status"], row["approval_status"]) == ("rejected", "rejected")
    assert db.count(t.outbox, message_id=mid) == 0
