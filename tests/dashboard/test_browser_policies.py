"""The approval policies in a real browser (Playwright driving Debian's chromium): the signed
link of an approver's email notice asks for confirmation before it approves; two approvers, in
two browser contexts, approve one message held for 2 of them (the first approval leaves it
queued and shows live on the other's page); an approver edits who a message goes to and the
mail is handed over to exactly the new recipients. Every outcome is checked through the API and
the captured mail, not only the page."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from tests.conftest import Api, wait_for

from .conftest import browser_sign_in, pending_item, wait_sent

LINK = re.compile(r"https?://[^\s\"<>]+(/a/[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{22})")


def _captured(dash, message_id: str) -> tuple[list[str], bytes] | None:
    rows = dash.query("select rcpt_tos, raw from captured_mail where message_id = :m", m=message_id)
    if not rows:
        return None
    rcpts, raw = rows[0]
    return (json.loads(rcpts) if isinstance(rcpts, str) else rcpts), raw


def _notice_link(dash, admin: Api, message_id: str) -> str:
    """The approval link in the notice the server mailed the external approver (the capture
    transport kept the bytes handed over)."""
    def found():
        events = admin.ok("GET", "audit_log", message_id=message_id, limit=100)["events"]
        ids = [n for e in events if e["action"] == "approval.notified" for n in e["details"]["notices"]]
        got = [_captured(dash, i) for i in ids]
        return got if ids and all(got) else None

    [(rcpts, raw)] = wait_for(found, timeout=15, what=f"the approval notice of {message_id}")
    assert rcpts == ["boss@partner.test"]
    from email import message_from_bytes
    from email.policy import default as default_policy

    text = message_from_bytes(raw, policy=default_policy).get_body(("plain",)).get_content()
    m = LINK.search(text)
    assert m, "no approval link in the notice"
    return dash.base + m.group(1)


def test_the_email_approval_link_asks_for_confirmation_and_then_approves(dash, page, admin, tenant, hold):
    t = tenant()
    admin.ok("POST", "update_mailbox", {"mailbox": t.mailbox, "approvers": ["boss@partner.test"]})
    msg = hold(t, subject="Contract renewal for Northwind", to="buyer@northwind.test")
    url = _notice_link(dash, admin, msg)
    # Opening the link (as a mail client or a link scanner would) only asks.
    page.goto(url)
    expect(page.get_by_role("heading", level=2, name="The message as it will go out")).to_be_visible()
    assert "Contract renewal for Northwind" in page.content()
    approve = page.get_by_role("button", name="Approve and send")
    expect(approve).to_be_visible()
    page.reload()  # a second GET changes nothing either
    assert pending_item(admin, msg)["status"] == "pending"
    assert _captured(dash, msg) is None
    page.get_by_role("button", name="Approve and send").click()
    expect(page.get_by_text("You approved the message; it goes out now.")).to_be_visible()
    item = pending_item(admin, msg)
    assert item["status"] == "approved" and item["decided_by"] == "boss@partner.test"
    wait_sent(admin, msg)
    rcpts, _ = _captured(dash, msg)
    assert rcpts == ["buyer@northwind.test"]
    # The link is single-use: opening it again offers nothing to click.
    page.goto(url)
    expect(page.get_by_text("This link was already used")).to_be_visible()
    assert page.get_by_role("button", name="Approve and send").count() == 0


def test_two_of_two_approvers_in_two_browser_contexts(dash, browser, admin, tenant, hold):
    t = tenant()
    admin.ok("POST", "update_mailbox", {"mailbox": t.mailbox, "approvals_required": 2})
    second = admin.ok("POST", "create_api_key", {"role": "approver", "mailboxes": [t.mailbox], "name": "bo"})
    msg = hold(t, subject="Price change for Contoso", to="ap@contoso.test")
    contexts = [browser.new_context(viewport={"width": 1280, "height": 820}) for _ in range(2)]
    try:
        ana, bo = (c.new_page() for c in contexts)
        errors: list[str] = []
        for p in (ana, bo):
            p.set_default_timeout(10_000)
            p.on("pageerror", lambda exc: errors.append(str(exc)))
        browser_sign_in(ana, dash.base, t.approver.key)
        browser_sign_in(bo, dash.base, second["api_key"])
        row = ana.locator(f'tr.row[data-id="{msg}"]')
        expect(row).to_contain_text("0 of 2 approvals")
        ana.goto(f"{dash.base}/messages/{msg}")
        expect(ana.locator("#approvals")).to_have_text("0 of 2")
        ana.wait_for_timeout(300)  # the page's stream is connected
        # Bo approves first: recorded, still held, and the queue says how many more are needed.
        bo.goto(f"{dash.base}/messages/{msg}")
        bo.get_by_role("button", name="Approve and send").click()
        bo.wait_for_url(re.compile(r"done=recorded"))
        expect(bo.locator("#done")).to_contain_text("still waiting for 1 more approval")
        expect(bo.locator(f'tr.row[data-id="{msg}"]')).to_contain_text(f"1 of 2 approvals: {second['key_id']}")
        item = pending_item(admin, msg)
        assert item["status"] == "pending" and [a["by"] for a in item["approvals"]] == [second["key_id"]]
        # Ana's open page learns of it live, without a reload.
        expect(ana.locator("#approvals")).to_have_text(f"1 of 2: {second['key_id']}", timeout=3000)
        # Bo approving again does not count twice.
        bo.goto(f"{dash.base}/messages/{msg}")
        bo.get_by_role("button", name="Approve and send").click()
        bo.wait_for_url(re.compile(r"done=recorded"))
        assert pending_item(admin, msg)["status"] == "pending"
        # Ana's approval is the second one needed: approved and sent.
        ana.reload()
        ana.get_by_role("button", name="Approve and send").click()
        ana.wait_for_url(re.compile(r"done=approved"))
        item = pending_item(admin, msg)
        assert item["status"] == "approved" and {a["by"] for a in item["approvals"]} == {second["key_id"], t.approver_key_id}
        wait_sent(admin, msg)
        expect(ana.locator(f'tr.row[data-id="{msg}"]')).to_have_count(0)
        assert errors == [], errors
    finally:
        for c in contexts:
            c.close()


def test_edit_a_recipient_then_approve_sends_to_the_new_recipient(dash, page, admin, tenant, hold):
    t = tenant()
    msg = hold(t, subject="Quote for the wrong person", to="old.buyer@northwind.test", cc=["ops@northwind.test"])
    browser_sign_in(page, dash.base, t.approver.key)
    page.goto(f"{dash.base}/messages/{msg}")
    expect(page.get_by_label("To", exact=True)).to_have_value("old.buyer@northwind.test")
    page.get_by_label("To", exact=True).fill("Sam Buyer <sam@northwind.test>")
    page.get_by_label("Cc", exact=True).fill("")
    page.get_by_label("Bcc", exact=True).fill("records@acme.test")
    page.get_by_role("button", name="Save edits and approve").click()
    page.wait_for_url(re.compile(r"done=edited"))
    item = pending_item(admin, msg)
    assert item["status"] == "approved" and item["to"] == ["Sam Buyer <sam@northwind.test>"] and item["cc"] == []
    wait_sent(admin, msg)
    rcpts, raw = _captured(dash, msg)
    assert sorted(rcpts) == ["records@acme.test", "sam@northwind.test"]
    assert b"old.buyer@northwind.test" not in raw and b"records@acme.test" not in raw  # Bcc: envelope only
    [event] = [e for e in admin.ok("GET", "audit_log", message_id=msg, limit=100)["events"] if e["action"] == "message.approved"]
    assert event["details"]["changes"]["to"] == {"old": ["old.buyer@northwind.test"], "new": ["Sam Buyer <sam@northwind.test>"]}
    # A bad address is refused on the page, and nothing changes.
    other = hold(t, subject="Another one", to="lee@fabrikam.test")
    page.goto(f"{dash.base}/messages/{other}")
    page.get_by_label("To", exact=True).fill("not an address")
    page.get_by_role("button", name="Save edits and approve").click()
    expect(page.locator("#action-error")).to_contain_text("not a valid email address")
    assert pending_item(admin, other)["status"] == "pending" and pending_item(admin, other)["to"] == ["lee@fabrikam.test"]
