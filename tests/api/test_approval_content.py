"""What the approver sees, and that an approval is for exactly that (trust issue, finding 5).

Over real HTTP against the session server: the approval queue shows every recipient, Reply-To,
every attachment and header that will leave, the HTML without remote content (nothing on the
approver's screen may call the sender's server) and without the CSS that hides or adds text; an
approval given with the content_hash shown is refused once the message changed, and recorded
with the version approved otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import smtplib
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

from .helpers import all_audit, assert_error, find_in_inbox, new_address, snapshot, wait_status

TRACKER = "https://tracker.elsewhere.test/open.gif?who=approver"
HTML = (
    "<style>.fine{display:none} .pay::after{content:'Wire 9000 EUR to IBAN XX00'} "
    "body{background:url(https://tracker.elsewhere.test/bg.png)}</style>"
    f'<p>Hello Ana,</p><img src="{TRACKER}" alt="logo">'
    '<p class="fine">Hidden clause: all fees are doubled.</p><p class="pay"></p>'
    '<span style="display:none">Also hidden inline.</span>'
    '<svg width="200" height="20"><text x="0" y="15">Signed: the CEO</text></svg>'
)
REPORT = b"%PDF-1.4 quarterly numbers"


def held_with_everything(api, box, **extra) -> dict:
    sent = api.ok("POST", "send_email", {
        "from": box, "to": "Ana <ana@partner.test>", "cc": "cc@partner.test", "bcc": "audit@partner.test",
        "reply_to": "replies@elsewhere.test", "subject": "Your offer", "body": "Hello Ana, see attached.",
        "html": HTML, "attachments": [{"filename": "report.pdf", "content_type": "application/pdf",
                                       "content_base64": base64.b64encode(REPORT).decode()}], **extra})
    assert sent["status"] == "pending", sent
    return sent


def item_of(api, box, message_id) -> dict:
    return next(m for m in api.ok("GET", "list_pending", mailbox=box)["messages"] if m["message_id"] == message_id)


def test_list_pending_shows_everything_that_will_leave(admin, approver, mailbox):
    box = mailbox(oversight_mode="gated_all")
    sent = held_with_everything(admin, box)
    item = item_of(approver(box), box, sent["message_id"])
    assert item["reply_to"] == ["replies@elsewhere.test"]
    assert item["to"] == ["Ana <ana@partner.test>"] and item["cc"] == ["cc@partner.test"] and item["bcc"] == ["audit@partner.test"]
    [att] = item["attachments"]
    assert (att["filename"], att["content_type"], att["size"]) == ("report.pdf", "application/pdf", len(REPORT))
    assert att["attachment_id"].startswith("att_")
    # The headers, as composed for delivery.
    headers = {name.lower(): value for name, value in item["headers"]}
    assert headers["reply-to"] == "replies@elsewhere.test" and headers["to"] == "Ana <ana@partner.test>"
    assert headers["cc"] == "cc@partner.test" and headers["subject"] == "Your offer"
    assert headers["x-multimail-message-id"] == sent["message_id"]
    assert headers["content-type"].startswith("multipart/mixed")
    assert "bcc" not in headers  # nobody receives a Bcc header; the item names them in `bcc`
    assert {"dkim-signature", "x-multimail-identity"} <= set(headers)  # named as added when sent
    assert item["body"] == "Hello Ana, see attached."
    # The HTML: nothing fetched from anywhere, the CSS-hidden text visible, the CSS-added text named.
    html = item["html"]
    assert "tracker.elsewhere.test" not in html and "src=" not in html and "url(" not in html
    assert "Hidden clause: all fees are doubled." in html and "Also hidden inline." in html
    assert "style" not in html and "display" not in html
    assert item["html_remote_content_blocked"] == 2  # the <img> and the CSS background
    assert item["html_css_removed"] is True and item["html_css_text"] == ["Wire 9000 EUR to IBAN XX00"]
    # Inline SVG text, which clients such as Apple Mail render and the sanitiser drops, is named too.
    assert item["html_other_text"] == ["Signed: the CEO"] and "Signed: the CEO" not in html
    assert "2 remote" in item["html_note"]
    assert item["held_because"]["code"] == "gated_all"
    assert len(item["content_hash"]) == 64 and item["approved_content_hash"] is None
    # read_email of the held message shows the same version and reasons.
    full = admin.ok("GET", "read_email", message_id=sent["message_id"])
    assert full["content_hash"] == item["content_hash"] and full["held_because"] == item["held_because"]
    assert "tracker.elsewhere.test" not in full["html"]


def test_held_because_names_a_per_call_override(admin, agent, mailbox):
    box = mailbox(oversight_mode="autonomous")
    sent = agent(box).ok("POST", "send_email", {"from": box, "to": new_address(), "subject": "s", "body": "b",
                                                "oversight_mode": "gated_all"})
    assert item_of(admin, box, sent["message_id"])["held_because"]["code"] == "per_call_override"
    gated = mailbox(oversight_mode="gated_send")
    sent = agent(gated).ok("POST", "send_email", {"from": gated, "to": new_address(), "subject": "s", "body": "b"})
    assert item_of(admin, gated, sent["message_id"])["held_because"]["code"] == "gated_send_new_conversation"


def test_remote_images_in_received_html_are_never_fetched_by_a_viewer(server, admin, mailbox):
    """read_email of inbound mail: a tracking pixel would tell the sender who read it, and when."""
    box = mailbox(oversight_mode="autonomous")
    subject = f"Pixel {secrets.token_hex(3)}"
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "news@partner.test", box, subject
    msg.set_content("text part")
    msg.add_alternative(f'<p>Hi</p><img src="{TRACKER}" srcset="{TRACKER} 2x"><table background="{TRACKER}"><tr>'
                        f'<td>x</td></tr></table>', subtype="html")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        s.send_message(msg)
    found = find_in_inbox(admin, box, subject)
    html = admin.ok("GET", "read_email", message_id=found["message_id"])["html"]
    assert "<p>Hi</p>" in html and "tracker" not in html and "src" not in html


def test_stale_content_hash_after_an_edit_is_refused_and_changes_nothing(admin, approver, mailbox):
    box = mailbox(oversight_mode="gated_all")
    sent = held_with_everything(admin, box)
    first, second = approver(box), approver(box)
    shown = item_of(first, box, sent["message_id"])["content_hash"]
    # Another approver edits the held message: it stays held, with a new version.
    edited = second.ok("POST", "edit_message", {"message_id": sent["message_id"], "body": "Price on request.",
                                                "content_hash": shown})
    assert edited["status"] == "pending" and edited["content_hash"] != shown and edited["html"] is None
    [event] = [e for e in all_audit(admin, message_id=sent["message_id"]) if e["action"] == "message.edited"]
    assert event["details"]["content_hash_before"] == shown and event["details"]["content_hash_after"] == edited["content_hash"]
    assert event["details"]["edited"] == ["body_html", "body_text"]
    assert "+Price on request." in event["details"]["changes"]["body"]["diff"]
    assert event["details"]["changes"]["html"]["removed"] is True
    # The first approver approves what it was shown: refused, nothing changes.
    before = snapshot(admin, box)
    message_before = admin.ok("GET", "read_email", message_id=sent["message_id"])
    err = assert_error(first.post("approve_message", {"message_id": sent["message_id"], "content_hash": shown}), 409, "content_changed")
    assert err["details"] == {"message_id": sent["message_id"], "content_hash": shown, "current_content_hash": edited["content_hash"]}
    # ... nor with edits of its own on top of a version it did not see.
    assert_error(first.post("approve_message", {"message_id": sent["message_id"], "content_hash": shown, "subject": "x"}),
                 409, "content_changed")
    assert_error(first.post("edit_message", {"message_id": sent["message_id"], "content_hash": shown, "subject": "x"}),
                 409, "content_changed")
    assert snapshot(admin, box) == before
    assert admin.ok("GET", "read_email", message_id=sent["message_id"]) == message_before
    # Malformed hashes and empty edits are 400s, and change nothing either.
    assert_error(first.post("approve_message", {"message_id": sent["message_id"], "content_hash": "abc"}), 400, "invalid_field")
    assert_error(first.post("edit_message", {"message_id": sent["message_id"]}), 400, "missing_field")
    assert snapshot(admin, box) == before


def test_approval_with_the_right_hash_is_recorded_and_is_what_goes_out(server, admin, approver, mailbox):
    box = mailbox(oversight_mode="gated_all")
    sent = held_with_everything(admin, box)
    human = approver(box)
    shown = item_of(human, box, sent["message_id"])["content_hash"]
    answer = human.ok("POST", "approve_message", {"message_id": sent["message_id"], "content_hash": shown, "note": "ok"})
    assert answer["status"] == "approved" and answer["approved_content_hash"] == shown == answer["content_hash"]
    [event] = [e for e in all_audit(admin, message_id=sent["message_id"]) if e["action"] == "message.approved"]
    assert event["details"]["content_hash"] == shown and "edited" not in event["details"]
    wait_status(admin, sent["message_id"], "sent")
    assert item_of(admin, box, sent["message_id"])["approved_content_hash"] == shown
    [(raw,)] = server.query("select raw from captured_mail where message_id = :m", m=sent["message_id"])
    out = message_from_bytes(raw, policy=default_policy)
    assert str(out["Reply-To"]) == "replies@elsewhere.test"
    [att] = list(out.iter_attachments())
    assert hashlib.sha256(att.get_payload(decode=True)).digest() == hashlib.sha256(REPORT).digest()


def test_approve_with_edits_records_both_versions(admin, approver, mailbox):
    box = mailbox(oversight_mode="gated_all")
    sent = held_with_everything(admin, box)
    human = approver(box)
    shown = item_of(human, box, sent["message_id"])["content_hash"]
    answer = human.ok("POST", "approve_message", {"message_id": sent["message_id"], "content_hash": shown,
                                                  "subject": "Your offer (revised)"})
    assert answer["approved_content_hash"] != shown and answer["subject"] == "Your offer (revised)"
    [event] = [e for e in all_audit(admin, message_id=sent["message_id"]) if e["action"] == "message.approved"]
    assert event["details"]["content_hash_before_edit"] == shown
    assert event["details"]["content_hash"] == answer["approved_content_hash"]
    assert event["details"]["changes"] == {"subject": {"old": "Your offer", "new": "Your offer (revised)"}}


def test_approved_content_matches_only_the_approved_version(server, admin, mailbox):
    """Service level, on the server's own rows: the check the delivery worker makes before
    composing fails for content changed after the approval."""
    from sqlalchemy import create_engine, select

    from multimail_server.services.approvals import approved_content_matches
    from multimail_server.store import messages as message_q
    from multimail_server.store import tables as t

    box = mailbox(oversight_mode="gated_all")
    sent = held_with_everything(admin, box)
    admin.ok("POST", "approve_message", {"message_id": sent["message_id"]})
    engine = create_engine(server.database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as tx:
        msg = dict(tx.execute(select(t.messages).where(t.messages.c.id == sent["message_id"])).mappings().one())
        atts = message_q.attachments_of(tx, sent["message_id"], with_content=True)
    engine.dispose()
    assert msg["approved_content_hash"] and approved_content_matches(msg, atts)
    assert not approved_content_matches({**msg, "body_text": "changed after approval"}, atts)
    assert not approved_content_matches({**msg, "bcc_addrs": ["spy@elsewhere.test"]}, atts)
    assert not approved_content_matches(msg, [{**atts[0], "content": b"other bytes"}])
