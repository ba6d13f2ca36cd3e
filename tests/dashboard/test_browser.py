"""The dashboard in a real browser (Playwright driving Debian's chromium, headless): an approver
signs in, sees held mail arrive live, approves, edits then approves, rejects with a reason; an
agent key is refused, another tenant's message is not there, a stale version is refused. Each
test then checks what the server did through the API, not only what the page says.

The README's screenshots are made here, from the pages as they are: run with
MULTIMAIL_UPDATE_SCREENSHOTS=1 to refresh docs/screenshots/."""

from __future__ import annotations

import base64
import email
import re
import threading
from email import policy

from playwright.sync_api import expect

from .conftest import approval_of, browser_sign_in, pending_item, wait_sent

FLOW_RUN = "6f1c9d3e-8f4a-4b1e-9a4c-2d6b1f0e7a11"


def test_queue_is_live_and_approve_from_the_keyboard(dash, admin, page, tenant, hold, screenshots):
    t = tenant(address="sales@acme.test")  # a readable name for the screenshot
    # A policy, so the queue shows its time left and what happens then (4 h, then rejected).
    admin.ok("POST", "update_mailbox", {"mailbox": t.mailbox, "approval_timeout": 4 * 3600, "on_timeout": "reject"})
    hold(t, subject="Renewal quote for Northwind", to="buyer@northwind.test",
         body="Hi Sam, attached is the renewal quote we discussed on Monday.", metadata={"prefect": {"flow_run_id": FLOW_RUN}})
    browser_sign_in(page, dash.base, t.approver.key)
    page.wait_for_selector("#live.on")
    page.evaluate("window.__not_reloaded = true")
    # Held elsewhere (the agent's API call): the row appears without a reload.
    msg = hold(t, subject="Intro to the Fabrikam team", to=["lee@fabrikam.test"], cc=["ops@fabrikam.test"],
               body="Hi Lee, I help the sales desk at Acme; would a call on Thursday suit you?")
    page.wait_for_selector(f'tr.row[data-id="{msg}"]', timeout=3000)
    assert page.evaluate("window.__not_reloaded") is True
    assert page.locator("#held-count").inner_text() == "2"
    row = page.locator(f'tr.row[data-id="{msg}"]')
    assert "lee@fabrikam.test" in row.inner_text() and "ops@fabrikam.test" in row.inner_text()
    # The time left is the approval timeout's (approval_due_at of the pending item), and what then.
    due = t.approver.ok("GET", "list_pending", message_id=msg)["messages"][0]["approval_due_at"]
    assert due and row.locator(f'time[data-until="{due}"]').count() == 1 and "then reject" in row.inner_text()
    # The flow run links to the Prefect UI.
    link = page.get_by_role("link", name=f"Prefect flow run {FLOW_RUN} (opens the Prefect UI)")
    assert link.get_attribute("href") == f"http://127.0.0.1:4200/runs/flow-run/{FLOW_RUN}"
    hold(t, subject="Follow-up: invoice 2291 overdue", to="ap@contoso.test",
         body="Hello, invoice 2291 is 14 days overdue. Could you confirm the payment date?")
    expect(page.locator("#held tr.row")).to_have_count(3)
    page.wait_for_timeout(1600)  # the "new row" highlight fades
    page.set_viewport_size({"width": 1280, "height": 660})
    page.screenshot(path=str(screenshots / "queue.png"))
    # The selection stays on its message as rows arrive; j twice reaches the last row (the
    # first held), k goes back up to the Fabrikam intro; a approves the version shown.
    page.locator("body").press("j")
    page.locator("body").press("j")
    page.locator("body").press("k")
    assert page.locator("tr.row.selected").get_attribute("data-id") == msg
    page.locator("body").press("a")
    page.wait_for_url(re.compile(r"done=approved"))
    assert page.get_by_role("status").filter(has_text="Approved").count() == 1
    m = pending_item(t.approver, msg)
    assert m["status"] == "approved" and m["decided_by"] == t.approver_key_id
    wait_sent(t.approver, msg)
    # A decision made elsewhere (another approver, on the API) takes a row off, live.
    other = page.locator("tr.row").first.get_attribute("data-id")
    page.evaluate("window.__not_reloaded = true")
    t.approver.ok("POST", "reject_message", {"message_id": other, "reason": "handled by phone"})
    page.wait_for_selector(f'tr.row[data-id="{other}"]', state="detached", timeout=3000)
    assert page.evaluate("window.__not_reloaded") is True
    assert "handled by phone" in page.locator("#decided").inner_text()


def test_edit_then_approve_sends_the_edit(dash, page, tenant, hold, admin, screenshots):
    t = tenant(address="quotes@acme.test")
    attachment = base64.b64encode(b"%PDF-1.4 quote").decode()
    msg = hold(t, subject="Your quote, as discussed", to="buyer@northwind.test", reply_to=["sales@acme.test"],
               body="Hi Sam,\n\nAs discussed, the renewal is $12,400 per year.\n\nBest,\nThe sales desk",
               html='<p>Hi Sam,</p><p>As discussed, the renewal is <b>$12,400</b> per year.</p>'
                    '<img src="https://tracker.example/open.png" alt="">',
               attachments=[{"filename": "quote-2291.pdf", "content_type": "application/pdf", "content_base64": attachment}],
               metadata={"prefect": {"flow_run_id": FLOW_RUN}})
    browser_sign_in(page, dash.base, t.approver.key)
    page.get_by_role("link", name="Your quote, as discussed", exact=True).click()
    page.wait_for_url(f"{dash.base}/messages/{msg}")
    envelope = page.locator(".envelope").inner_text()
    assert "buyer@northwind.test" in envelope and "sales@acme.test" in envelope and t.mailbox in envelope
    assert page.get_by_role("link", name="Download quote-2291.pdf").count() == 1
    frame = page.frame_locator("iframe.html")
    assert "$12,400" in frame.locator("body").inner_text()
    assert frame.locator("img").count() == 0 or not frame.locator("img").first.get_attribute("src")
    page.wait_for_timeout(300)
    page.screenshot(path=str(screenshots / "held-message.png"), full_page=True)
    # The download is the attachment's bytes.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download quote-2291.pdf").click()
    assert open(download.value.path(), "rb").read() == b"%PDF-1.4 quote"
    page.get_by_label("Subject").fill("Your renewal quote")
    page.get_by_label("Body").fill("Hi Sam,\n\nThe renewal is $11,900 per year (loyalty discount).\n\nBest,\nAna")
    page.get_by_role("button", name="Save edits and approve").click()
    page.wait_for_url(re.compile(r"done=edited"))
    sent = wait_sent(admin, msg)
    assert sent["subject"] == "Your renewal quote" and sent["approval_status"] == "approved"
    raw = admin.get("get_raw", message_id=msg)
    assert raw.status_code == 200
    out = email.message_from_bytes(raw.content, policy=policy.default)
    assert out["Subject"] == "Your renewal quote"
    assert "$11,900" in out.get_body(("plain",)).get_content() and "$12,400" not in raw.content.decode(errors="replace")
    event = admin.ok("GET", "audit_log", message_id=msg, action="message.approved")["events"][0]
    assert event["actor"] == t.approver_key_id
    assert event["details"]["changes"]["subject"] == {"old": "Your quote, as discussed", "new": "Your renewal quote"}
    assert "+The renewal is $11,900" in event["details"]["changes"]["body"]["diff"]


def test_reject_with_a_reason(dash, page, tenant, hold):
    from prefect_multimail import MessageRejected, MultiMailCredentials, wait_for_approval

    t = tenant()
    msg = hold(t, subject="Discount offer: 40% off")
    # The agent's side waits as a flow does (outside a Prefect run, wait_for_approval long-polls).
    outcome: dict = {}

    def agent_waits() -> None:
        try:
            outcome["result"] = wait_for_approval(MultiMailCredentials(api_key=t.agent.key, base_url=dash.base), msg,
                                                  timeout=60)
        except Exception as exc:  # the outcome under test
            outcome["error"] = exc

    waiter = threading.Thread(target=agent_waits, daemon=True)
    waiter.start()
    browser_sign_in(page, dash.base, t.approver.key)
    page.goto(f"{dash.base}/messages/{msg}#reject")
    expect(page.locator("#reason")).to_be_focused()  # r / #reject lands on the reason
    page.get_by_label("Reason for rejecting (the agent's flow receives it)").fill("We never discount more than 15%.")
    page.get_by_role("button", name="Reject").click()
    page.wait_for_url(re.compile(r"done=rejected"))
    m = approval_of(t.agent, msg)  # what the agent's flow reads (and its MessageRejected carries)
    assert m["approval_status"] == "rejected" and m["status"] == "rejected"
    pending = pending_item(t.agent, msg)
    assert pending["decision_note"] == "We never discount more than 15%." and pending["decided_by"] == t.approver_key_id
    waiter.join(30)
    error = outcome.get("error")
    assert isinstance(error, MessageRejected), outcome
    assert error.reason == "We never discount more than 15%." and error.decided_by == t.approver_key_id


def test_agent_key_is_refused(dash, page, tenant):
    t = tenant()
    page.goto(f"{dash.base}/login?r=1")
    page.get_by_label("API key").fill(t.agent.key)
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    assert "This is an agent key" in alert.inner_text()
    assert not any(c["name"] == "mm_dashboard" for c in page.context.cookies())
    page.goto(f"{dash.base}/")
    assert page.url.startswith(f"{dash.base}/login")


def test_another_tenants_message_is_not_visible(dash, page, tenant, hold):
    mine, theirs = tenant(), tenant()
    their_msg = hold(theirs, subject="Acquisition terms (confidential)")
    hold(mine, subject="Weekly update")
    browser_sign_in(page, dash.base, mine.approver.key)
    page.wait_for_selector("#live.on")
    assert "Weekly update" in page.locator("#held").inner_text()
    assert "Acquisition terms" not in page.content()
    response = page.goto(f"{dash.base}/messages/{their_msg}")
    assert response.status == 404 and "Acquisition terms" not in page.content()
    assert "No message" in page.get_by_role("alert").inner_text()
    # A forged approval (with this session's CSRF token) is refused the same way, and changes nothing.
    page.goto(f"{dash.base}/")
    token = page.locator('input[name="csrf"]').first.get_attribute("value")
    r = page.request.post(f"{dash.base}/messages/{their_msg}/approve", form={"csrf": token, "content_hash": "0" * 64},
                          max_redirects=0)
    assert r.status == 404
    assert approval_of(theirs.approver, their_msg)["approval_status"] == "pending"


def test_stale_version_is_refused(dash, page, tenant, hold, admin):
    t = tenant()
    msg = hold(t, subject="Pricing for Q1", body="The price is $100.")
    browser_sign_in(page, dash.base, t.approver.key)
    page.goto(f"{dash.base}/messages/{msg}")
    page.wait_for_timeout(300)  # the page's live stream is open
    # Another approver edits it meanwhile: this page is told at once...
    admin.ok("POST", "edit_message", {"message_id": msg, "body": "The price is $1000."})
    banner = page.locator("#changed")
    banner.wait_for(state="visible", timeout=3000)
    assert "changed meanwhile" in banner.inner_text()
    # ...and approving the version it shows is refused.
    page.get_by_role("button", name="Approve and send").click()
    alert = page.locator("#action-error")
    assert "changed since you opened it" in alert.inner_text()
    assert "$1000" in page.locator("#text-part").inner_text()
    assert approval_of(t.approver, msg)["approval_status"] == "pending"
    # The version now shown can be approved.
    page.get_by_role("button", name="Approve and send").click()
    page.wait_for_url(re.compile(r"done=approved"))
    assert approval_of(t.approver, msg)["approval_status"] == "approved"


def test_a_link_from_an_email_opens_the_message(dash, page, tenant, hold):
    """A notification's link is a navigation from another site, which carries no SameSite=Strict
    cookie: the sign-in page asks once more from this site, and a signed-in approver lands on
    the message, not on the sign-in form."""
    t = tenant()
    msg = hold(t, subject="Linked from the inbox")
    browser_sign_in(page, dash.base, t.approver.key)
    page.goto("about:blank")
    page.set_content(f'<a href="{dash.base}/messages/{msg}">open</a>')  # about:blank: not this site
    page.get_by_role("link", name="open").click()
    page.wait_for_url(f"{dash.base}/messages/{msg}")
    assert page.get_by_role("heading", name="Linked from the inbox").is_visible()


def test_post_without_csrf_is_refused(dash, page, tenant, hold):
    t = tenant()
    msg = hold(t)
    browser_sign_in(page, dash.base, t.approver.key)
    content_hash = approval_of(t.approver, msg)["content_hash"]
    r = page.request.post(f"{dash.base}/messages/{msg}/approve", form={"content_hash": content_hash}, max_redirects=0)
    assert r.status == 403 and "CSRF" in r.text()
    assert approval_of(t.approver, msg)["approval_status"] == "pending"


def test_phone_layout_and_accessible_names(dash, browser, tenant, hold, screenshots):
    t = tenant()
    hold(t, subject="Meeting next Tuesday?")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        browser_sign_in(page, dash.base, t.approver.key)
        page.wait_for_selector("#live.on")
        # Nothing wider than the screen, and every control has a name a screen reader reads out.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        unnamed = page.evaluate("""() => [...document.querySelectorAll('button, a, input:not([type=hidden]), select, textarea')]
            .filter(el => el.offsetParent !== null || el.closest('dialog'))
            .filter(el => !(el.getAttribute('aria-label') || el.labels?.length || el.textContent.trim() || el.title))
            .map(el => el.outerHTML)""")
        assert unnamed == []
        assert page.get_by_role("button", name=re.compile(r"^Approve “Meeting next Tuesday\?”")).is_visible()
        page.screenshot(path=str(screenshots / "queue-phone.png"))
    finally:
        context.close()
