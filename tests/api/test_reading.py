"""check_inbox, read_email, tag_email, get_thread over HTTP."""

import base64
import smtplib
from datetime import UTC, datetime, timedelta, timezone

from .helpers import all_audit, assert_error, inbox_ids, snapshot, wait_status


def _fill(inbound, box, n, prefix="m"):
    return [inbound(box, subject=f"{prefix}{i}")["message_id"] for i in range(n)]


def test_check_inbox_newest_first_and_shape(admin, mailbox, inbound, outside):
    box = mailbox()
    ids = _fill(inbound, box, 3)
    page = admin.ok("GET", "check_inbox", mailbox=box)
    assert [m["message_id"] for m in page["messages"]] == ids[::-1]
    assert page["next_cursor"] is None
    item = page["messages"][0]
    assert {"message_id", "thread_id", "from", "to", "subject", "snippet", "received_at", "tags", "read"} <= set(item)
    assert item["from"] == f"Ana Analyst <{outside()}>" and item["to"] == [box]
    assert item["subject"] == "m2" and item["snippet"] == "Hello from outside." and item["tags"] == {} and item["read"] is False
    # Outbound mail of the mailbox is not in its inbox.
    admin.ok("POST", "send_email", {"from": box, "to": outside(), "subject": "outbound", "body": "x"})
    assert inbox_ids(admin, box) == ids[::-1]


def test_cursor_pagination_is_stable_under_inserts(admin, mailbox, inbound):
    box = mailbox()
    ids = _fill(inbound, box, 5)
    first = admin.ok("GET", "check_inbox", mailbox=box, limit=2)
    assert [m["message_id"] for m in first["messages"]] == [ids[4], ids[3]]
    assert first["next_cursor"]
    # New mail arrives between pages: it must neither shift nor repeat the older pages.
    newer = _fill(inbound, box, 2, prefix="late")
    second = admin.ok("GET", "check_inbox", mailbox=box, limit=2, cursor=first["next_cursor"])
    assert [m["message_id"] for m in second["messages"]] == [ids[2], ids[1]]
    third = admin.ok("GET", "check_inbox", mailbox=box, limit=2, cursor=second["next_cursor"])
    assert [m["message_id"] for m in third["messages"]] == [ids[0]]
    assert third["next_cursor"] is None
    # A fresh first page starts with the newest.
    assert inbox_ids(admin, box)[:2] == newer[::-1]


def test_check_inbox_filters(admin, mailbox, inbound):
    box = mailbox()
    a, b, c = _fill(inbound, box, 3)
    admin.ok("POST", "tag_email", {"message_id": a, "tags": ["processed"]})
    admin.ok("POST", "tag_email", {"message_id": b, "tags": {"priority": "high"}})
    admin.ok("GET", "read_email", message_id=c)
    assert inbox_ids(admin, box, tag="processed") == [a]
    assert inbox_ids(admin, box, tag="priority") == [b]
    assert inbox_ids(admin, box, exclude_tag="processed") == [c, b]
    assert inbox_ids(admin, box, unread="true") == [b, a]
    assert inbox_ids(admin, box, unread="false") == [c]
    assert inbox_ids(admin, box, tag="nothing") == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert inbox_ids(admin, box, since=future) == []
    assert inbox_ids(admin, box, since=past) == [c, b, a]
    # A time without a zone is UTC; a date is midnight UTC.
    assert inbox_ids(admin, box, since=(datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")) == [c, b, a]
    assert inbox_ids(admin, box, since=(datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")) == []
    # A message received after `since` is in, one before is out.
    cut = admin.ok("GET", "read_email", message_id=b)["received_at"]
    assert inbox_ids(admin, box, since=cut) == [c, b]


def test_check_inbox_bad_params(admin, mailbox):
    box = mailbox()
    assert_error(admin.get("check_inbox"), 400, "missing_field")
    assert_error(admin.get("check_inbox", mailbox=box, limit="abc"), 400, "invalid_field")
    assert_error(admin.get("check_inbox", mailbox=box, limit=0), 400)
    assert_error(admin.get("check_inbox", mailbox=box, limit=101), 400)
    assert_error(admin.get("check_inbox", mailbox=box, limit=10**30), 400)
    assert_error(admin.get("check_inbox", mailbox=box, unread="maybe"), 400)
    assert_error(admin.get("check_inbox", mailbox=box, since="yesterday"), 400)
    assert_error(admin.get("check_inbox", mailbox=box, cursor="!!!"), 400, "invalid_cursor")
    huge = base64.urlsafe_b64encode(b"s" + b"9" * 30).decode().rstrip("=")
    assert_error(admin.get("check_inbox", mailbox=box, cursor=huge), 400, "invalid_cursor")
    assert_error(admin.get("check_inbox", mailbox="not an address"), 400, "invalid_address")
    assert_error(admin.get("check_inbox", mailbox="nobody@nowhere.test"), 404, "mailbox_not_found")
    assert_error(admin.get("check_inbox", mailbox="mbx_unknown"), 404, "mailbox_not_found")


def test_read_email_full_shape_and_marks_read(admin, mailbox, inbound, outside):
    box = mailbox()
    msg = inbound(box, subject="Full shape", body="Line one.\nLine two.", cc="copy@partner.test")
    assert msg["read"] is False
    full = admin.ok("GET", "read_email", message_id=msg["message_id"])
    for field in ("message_id", "thread_id", "internet_message_id", "from", "to", "cc", "subject", "body", "html", "attachments",
                  "tags", "direction", "status", "received_at", "sent_at", "authentication"):
        assert field in full, field
    assert full["message_id"] == msg["message_id"] and full["thread_id"] == msg["thread_id"]
    assert full["internet_message_id"].startswith("<") and full["internet_message_id"].endswith(">")
    assert full["from"] == f"Ana Analyst <{outside()}>"
    assert full["to"] == [box] and full["cc"] == ["copy@partner.test"]
    assert full["body"].replace("\r\n", "\n").strip() == "Line one.\nLine two."
    assert full["html"] is None and full["attachments"] == [] and full["tags"] == {}
    assert full["direction"] == "inbound" and full["received_at"]
    assert isinstance(full["authentication"], dict) and "verified_sender" in full["authentication"]
    assert full["read"] is True
    # Marked read, for check_inbox too; reading again changes nothing more.
    assert admin.ok("GET", "check_inbox", mailbox=box)["messages"][0]["read"] is True
    assert inbox_ids(admin, box, unread="true") == []
    reads = [e for e in all_audit(admin, message_id=msg["message_id"]) if e["action"] == "message.read"]
    admin.ok("GET", "read_email", message_id=msg["message_id"])
    assert len([e for e in all_audit(admin, message_id=msg["message_id"]) if e["action"] == "message.read"]) == len(reads) == 1


def test_read_email_html_only_gets_text_body(server, admin, mailbox):
    """Mail that came with HTML only (here over SMTP) gets a plain-text body derived from it."""
    box = mailbox()
    raw = (
        "From: Web Shop <shop@partner.test>\r\nTo: " + box + "\r\nSubject: Your order\r\n"
        "Message-ID: <html-only-" + box.split("@")[0] + "@partner.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n"
        "<html><body><h1>Order 42</h1><p>Shipped &amp; on its way.</p></body></html>\r\n"
    )
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        smtp.sendmail("shop@partner.test", [box], raw.encode())
    msg = admin.ok("GET", "check_inbox", mailbox=box)["messages"][0]
    assert msg["subject"] == "Your order" and msg["from"] == "Web Shop <shop@partner.test>"
    full = admin.ok("GET", "read_email", message_id=msg["message_id"])
    assert "<h1>Order 42</h1>" in full["html"]
    assert "Order 42" in full["body"] and "Shipped & on its way." in full["body"] and "<" not in full["body"]


def test_read_unknown_ids(admin):
    assert_error(admin.get("read_email", message_id="msg_doesnotexist"), 404, "message_not_found")
    assert_error(admin.get("read_email"), 400, "missing_field")
    assert_error(admin.get("get_thread", thread_id="thr_doesnotexist"), 404, "thread_not_found")
    assert_error(admin.get("get_thread"), 400, "missing_field")
    assert_error(admin.get("get_attachment", message_id="msg_nope", attachment_id="att_nope"), 404)
    assert_error(admin.post("tag_email", {"message_id": "msg_nope", "tags": ["x"]}), 404, "message_not_found")


def test_tag_email_forms(admin, mailbox, inbound):
    box = mailbox()
    mid = inbound(box)["message_id"]
    assert admin.ok("POST", "tag_email", {"message_id": mid, "tags": ["processed", "seen"]}) == {
        "message_id": mid, "tags": {"processed": "", "seen": ""}}
    assert admin.ok("POST", "tag_email", {"message_id": mid, "tags": {"priority": "high", "count": 3, "done": True}})["tags"] == {
        "processed": "", "seen": "", "priority": "high", "count": "3", "done": "true"}
    # Setting a key again replaces its value; remove deletes keys; unknown removals are fine.
    assert admin.ok("POST", "tag_email", {"message_id": mid, "tags": {"priority": "low"}, "remove": ["seen", "never-set"]})["tags"] == {
        "processed": "", "priority": "low", "count": "3", "done": "true"}
    assert admin.ok("POST", "tag_email", {"message_id": mid, "remove": ["count", "done"]})["tags"] == {"processed": "", "priority": "low"}
    assert admin.ok("GET", "read_email", message_id=mid)["tags"] == {"processed": "", "priority": "low"}
    assert admin.ok("GET", "check_inbox", mailbox=box)["messages"][0]["tags"] == {"processed": "", "priority": "low"}


def test_tag_email_is_idempotent(admin, mailbox, inbound):
    box = mailbox()
    mid = inbound(box)["message_id"]
    first = admin.ok("POST", "tag_email", {"message_id": mid, "tags": ["processed"]})
    events = len(all_audit(admin, message_id=mid))
    for _ in range(3):
        assert admin.ok("POST", "tag_email", {"message_id": mid, "tags": ["processed"]}) == first
    assert len(all_audit(admin, message_id=mid)) == events  # no change, no new audit event


def test_tag_email_outbound_message(admin, mailbox):
    box = mailbox()
    sent = admin.ok("POST", "send_email", {"from": box, "to": "x@partner.test", "subject": "s", "body": "b"})
    assert admin.ok("POST", "tag_email", {"message_id": sent["message_id"], "tags": ["followup"]})["tags"] == {"followup": ""}


def test_tag_email_refusals_change_nothing(admin, mailbox, inbound):
    box = mailbox()
    mid = inbound(box)["message_id"]
    admin.ok("POST", "tag_email", {"message_id": mid, "tags": ["keep"]})
    before = snapshot(admin, box)
    for body in (
        {"message_id": mid},
        {"message_id": mid, "tags": "processed"},
        {"message_id": mid, "tags": [5]},
        {"message_id": mid, "tags": [""]},
        {"message_id": mid, "tags": ["a\nb"]},
        {"message_id": mid, "tags": {"k": {"nested": 1}}},
        {"message_id": mid, "tags": {"k": "v" * 2001}},
        {"message_id": mid, "tags": [f"t{i}" for i in range(51)]},
        {"message_id": mid, "remove": "keep"},
        {"message_id": mid, "tags": ["x"], "colour": "red"},
    ):
        assert_error(admin.post("tag_email", body), 400)
    assert snapshot(admin, box) == before


def test_get_thread(admin, mailbox, inbound):
    box = mailbox(oversight_mode="autonomous")
    first = inbound(box, subject="Thread subject")
    reply = admin.ok("POST", "reply_email", {"message_id": first["message_id"], "body": "Our answer."})
    wait_status(admin, reply["message_id"])
    thread = admin.ok("GET", "get_thread", thread_id=first["thread_id"])
    assert thread["thread_id"] == first["thread_id"] and thread["subject"] == "Thread subject"
    msgs = thread["messages"]
    assert [m["message_id"] for m in msgs] == [first["message_id"], reply["message_id"]]  # oldest first
    for m in msgs:
        assert {"message_id", "from", "to", "subject", "body", "direction", "is_reply", "decision", "status", "created_at"} <= set(m)
    assert [m["direction"] for m in msgs] == ["inbound", "outbound"]
    assert [m["is_reply"] for m in msgs] == [False, True]
    assert msgs[1]["body"] == "Our answer." and msgs[1]["status"] == "sent" and msgs[1]["subject"] == "Re: Thread subject"
    assert msgs[0]["created_at"] <= msgs[1]["created_at"]
    assert all(m["decision"] is None for m in msgs)
