"""The dashboard over plain HTTP (requests against a real server): the session cookie's flags,
sessions that die with their key, CSRF on every form, scope (another tenant's message is not
there, even by URL), agent keys refused, and the server's state checked through the API."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from tests.conftest import start_session_server, wait_for

from .conftest import CSRF, Dashboard, approval_of


def test_pages_need_a_session(dash):
    for path in ("/", "/inboxes", "/audit", "/mailboxes", "/messages/msg_x"):
        r = requests.get(dash.base + path, allow_redirects=False, timeout=10)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), (path, r.status_code)
    # The API keeps its own answers: the dashboard takes no path of it.
    r = requests.get(dash.base + "/v1/list_pending", timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
    r = requests.get(dash.base + "/health", timeout=10)
    assert r.json()["status"] == "ok"


def test_session_cookie_flags(dash, tenant):
    t = tenant()
    d = Dashboard(dash.base)
    r = d.sign_in(t.approver.key)
    assert r.status_code == 303
    cookie = next(h for k, h in r.raw.headers.items() if k.lower() == "set-cookie" and h.startswith("mm_dashboard="))
    flags = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
    assert "httponly" in flags and flags["samesite"].lower() == "samesite=strict" and flags["path"] == "Path=/"
    assert "secure" not in flags  # plain http on loopback: a Secure cookie would never come back
    # The key itself is nowhere in the cookie.
    assert t.approver.key not in cookie and t.approver.key[8:20] not in cookie


def test_secure_cookie_when_served_over_https(tmp_path):
    srv = start_session_server(tmp_path, env={"MULTIMAIL_PUBLIC_URL": "https://mail.example.test"})
    try:
        login = requests.get(srv.base + "/login", timeout=10)
        assert "secure" in login.headers["set-cookie"].lower()
        nonce = login.cookies["mm_dashboard_login"]
        token = CSRF.search(login.text).group(1)
        # A browser sends a Secure cookie over https only; this test talks http, so it sends it by hand.
        r = requests.post(srv.base + "/login", data={"csrf": token, "api_key": srv.admin_key},
                          headers={"Cookie": f"mm_dashboard_login={nonce}"}, allow_redirects=False, timeout=10)
        assert r.status_code == 303
        cookie = next(h for k, h in r.raw.headers.items() if k.lower() == "set-cookie" and h.startswith("mm_dashboard="))
        assert "secure" in cookie.lower() and "httponly" in cookie.lower()
    finally:
        srv.stop()


def test_agent_key_is_refused(dash, tenant):
    t = tenant()
    d = Dashboard(dash.base)
    r = d.sign_in(t.agent.key)
    assert r.status_code == 403
    assert "agent key" in r.text and "approver or admin key" in r.text
    assert "mm_dashboard" not in d.http.cookies
    assert d.get("/").status_code == 303


def test_wrong_key_and_login_csrf(dash):
    d = Dashboard(dash.base)
    r = d.sign_in("mm_live_not-a-key")
    assert r.status_code == 401 and "Unknown or revoked API key." in r.text
    # A sign-in posted without the form's token (from another site, say) is refused.
    r = requests.post(dash.base + "/login", data={"api_key": dash.admin_key}, allow_redirects=False, timeout=10)
    assert r.status_code == 403 and "mm_dashboard=" not in r.headers.get("set-cookie", "")


def test_open_redirect_refused(dash):
    for target in ("//evil.test/x", "/\t/evil.test", "https://evil.test/", "/\\evil.test", "/ok"):
        d = Dashboard(dash.base)
        form = d.http.get(dash.base + "/login", timeout=10)
        token = CSRF.search(form.text).group(1)
        r = d.http.post(dash.base + "/login", data={"csrf": token, "api_key": dash.admin_key, "next": target},
                        allow_redirects=False, timeout=10)
        assert r.status_code == 303 and r.headers["location"] == ("/ok" if target == "/ok" else "/"), target


def test_wrong_keys_are_rate_limited(tmp_path):
    srv = start_session_server(tmp_path, env={"MULTIMAIL_RATE_LIMIT_AUTH_FAILURES": "3/minute"})
    try:
        answers = [Dashboard(srv.base).sign_in(f"mm_live_guess{i}").status_code for i in range(4)]
        assert answers == [401, 401, 401, 429]
        r = Dashboard(srv.base).sign_in(srv.admin_key)  # even the right key waits now, as on the API
        assert r.status_code == 429 and "Too many wrong keys" in r.text
    finally:
        srv.stop()


def test_csrf_is_required_and_bound_to_the_session(dash, tenant, hold, signed_in):
    t = tenant()
    msg = hold(t)
    d = signed_in(t.approver.key)
    content_hash = approval_of(t.approver, msg)["content_hash"]
    r = d.post(f"/messages/{msg}/approve", {"content_hash": content_hash}, csrf=False)
    assert r.status_code == 403 and "CSRF" in r.text
    other = signed_in(t.approver.key)  # another session of the same key: its token is not this one's
    r = d.post(f"/messages/{msg}/approve", {"content_hash": content_hash, "csrf": other.csrf}, csrf=False)
    assert r.status_code == 403
    r = d.post(f"/messages/{msg}/reject", {"reason": "no"}, csrf=False)
    assert r.status_code == 403
    assert approval_of(t.approver, msg)["approval_status"] == "pending"  # nothing happened
    r = d.post(f"/messages/{msg}/approve", {"content_hash": content_hash})
    assert r.status_code == 303
    m = approval_of(t.approver, msg)
    assert m["approval_status"] == "approved" and m["approved_content_hash"] == content_hash


def test_session_ends_when_the_key_is_revoked(dash, admin, tenant, signed_in):
    t = tenant()
    d = signed_in(t.approver.key)
    assert d.get("/").status_code == 200
    admin.ok("POST", "revoke_api_key", {"key_id": t.approver_key_id})
    r = d.get("/")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_tampered_cookie_is_no_session(dash, tenant, signed_in):
    t = tenant()
    d = signed_in(t.approver.key)
    value = d.http.cookies["mm_dashboard"]
    payload, mac = value.split(".")
    d.http.cookies.set("mm_dashboard", payload + "." + mac[:-2] + ("AA" if not mac.endswith("AA") else "BB"))
    assert d.get("/").status_code == 303


def test_another_tenants_message_is_not_there(dash, tenant, hold, signed_in):
    mine, theirs = tenant(), tenant()
    their_msg = hold(theirs, subject="Their secret plan")
    d = signed_in(mine.approver.key)
    queue = d.get("/")
    assert queue.status_code == 200 and "Their secret plan" not in queue.text and their_msg not in queue.text
    for path in (f"/messages/{their_msg}", f"/messages/{their_msg}/html", f"/messages/{their_msg}/html?remote=1"):
        r = d.get(path)
        assert r.status_code == 404 and "Their secret plan" not in r.text, path
    content_hash = approval_of(theirs.approver, their_msg)["content_hash"]
    r = d.post(f"/messages/{their_msg}/approve", {"content_hash": content_hash})
    assert r.status_code == 404
    r = d.post(f"/messages/{their_msg}/reject", {"reason": "mine now"})
    assert r.status_code == 404
    assert approval_of(theirs.approver, their_msg)["approval_status"] == "pending"
    # Filtering by their mailbox is a 404 too, like the API's, and so are their live streams.
    assert d.get(f"/?mailbox={theirs.mailbox}").status_code == 404
    assert d.get(f"/events/queue?mailbox={theirs.mailbox}").status_code == 404
    assert d.get(f"/events/messages/{their_msg}?v={content_hash}").status_code == 404


def test_stale_version_is_refused(dash, admin, tenant, hold, signed_in):
    t = tenant()
    msg = hold(t, subject="Version one")
    d = signed_in(t.approver.key)
    shown = re.search(r'name="content_hash" value="([0-9a-f]{64})"', d.get(f"/messages/{msg}").text).group(1)
    admin.ok("POST", "edit_message", {"message_id": msg, "subject": "Version two"})
    r = d.post(f"/messages/{msg}/approve", {"content_hash": shown})
    assert r.status_code == 409 and "changed since you opened it" in r.text and "Version two" in r.text
    assert approval_of(t.approver, msg)["approval_status"] == "pending"


def test_reject_needs_a_reason(dash, tenant, hold, signed_in):
    t = tenant()
    msg = hold(t)
    d = signed_in(t.approver.key)
    r = d.post(f"/messages/{msg}/reject", {"reason": "  "})
    assert r.status_code == 400 and "reason" in r.text
    assert approval_of(t.approver, msg)["approval_status"] == "pending"


def test_html_part_is_framed_safely(dash, tenant, hold, signed_in):
    t = tenant()
    msg = hold(t, html='<p>Hi <img src="https://tracker.example/pixel.png"><script>alert(1)</script></p>')
    d = signed_in(t.approver.key)
    page = d.get(f"/messages/{msg}").text
    frame = re.search(r"<iframe[^>]*>", page).group(0)
    assert re.search(r"\bsandbox\b(?!=)", frame) and "allow-scripts" not in frame
    blocked = d.get(f"/messages/{msg}/html")
    csp = blocked.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "img-src data:;" in csp
    assert "tracker.example" not in blocked.text and "<script" not in blocked.text
    remote = d.get(f"/messages/{msg}/html?remote=1")
    assert "tracker.example/pixel.png" in remote.text and "<script" not in remote.text
    assert "img-src * data:" in remote.headers["content-security-policy"]
    assert "script-src" not in remote.headers["content-security-policy"]  # default-src 'none' covers scripts


def test_admin_pages_need_an_admin(dash, admin, tenant, signed_in):
    t = tenant()
    d = signed_in(t.approver.key)
    assert d.get("/webhooks").status_code == 403
    r = d.post("/mailboxes/settings", {"mailbox": t.mailbox, "oversight_mode": "autonomous", "min_oversight": "autonomous"})
    assert r.status_code == 403
    box = next(b for b in admin.ok("GET", "list_mailboxes")["mailboxes"] if b["address"] == t.mailbox)
    assert box["oversight_mode"] == "gated_send"
    boss = signed_in(dash.admin_key)
    r = boss.post("/mailboxes/settings", {"mailbox": t.mailbox, "oversight_mode": "gated_all", "min_oversight": "gated_send"})
    assert r.status_code == 303
    box = next(b for b in admin.ok("GET", "list_mailboxes")["mailboxes"] if b["address"] == t.mailbox)
    assert box["oversight_mode"] == "gated_all"
    r = boss.post("/audit/verify", {})
    assert r.status_code == 200 and "The chain is intact" in r.text
    assert signed_in(t.approver.key).post("/audit/verify", {}).status_code == 403


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_delivery_log_and_redeliver(dash, admin, signed_in):
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        hook = admin.ok("POST", "create_webhook", {"url": url, "events": ["message.approved"], "description": "dash test"})
        admin.ok("POST", "test_webhook", {"webhook_id": hook["webhook_id"]})
        boss = signed_in(dash.admin_key)
        assert "dash test" in boss.get("/webhooks").text

        def finished():
            page = admin.ok("GET", "list_webhook_deliveries", webhook_id=hook["webhook_id"])["deliveries"]
            return [x for x in page if x["status"] == "succeeded"]

        delivery = wait_for(finished, timeout=30, what="the test delivery to succeed")[0]
        log = boss.get(f"/webhooks/{hook['webhook_id']}")
        assert log.status_code == 200 and delivery["delivery_id"] in log.text
        r = boss.post(f"/webhooks/{hook['webhook_id']}/redeliver", {"delivery_id": delivery["delivery_id"]})
        assert r.status_code == 303
        events = admin.ok("GET", "audit_log", action="webhook.redelivered")["events"]
        assert any(e["details"].get("webhook_id") == hook["webhook_id"] for e in events)
        wait_for(lambda: admin.ok("GET", "list_webhook_deliveries", webhook_id=hook["webhook_id"])["deliveries"][0]["attempts"] >= 2,
                 timeout=30, what="the redelivery to be attempted")
        admin.ok("POST", "delete_webhook", {"webhook_id": hook["webhook_id"]})
    finally:
        receiver.shutdown()


def _first_queue_event(lines) -> tuple[float, dict]:
    """Read server-sent events (one `iter_lines` of the stream) until a `queue` event; (when it
    arrived, its data)."""
    event = None
    for line in lines:
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event == "queue":
            return time.monotonic(), json.loads(line.split(":", 1)[1])
    raise AssertionError("the stream ended")


def test_live_queue_stream_within_a_second(dash, tenant, hold, signed_in):
    t = tenant()
    d = signed_in(t.approver.key)
    with d.http.get(f"{dash.base}/events/queue", stream=True, timeout=30) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        resp = resp.iter_lines(decode_unicode=True)
        _, first = _first_queue_event(resp)
        assert first["count"] == 0
        sent_at = time.monotonic()
        msg = hold(t, subject="Live one")
        arrived, update = _first_queue_event(resp)
        assert update["count"] == 1 and msg in update["held"] and "Live one" in update["held"]
        assert arrived - sent_at < 1.0, f"the queue updated after {arrived - sent_at:.2f} s"
        # A decision made elsewhere (the API) takes it off the queue, as fast.
        decided_at = time.monotonic()
        t.approver.ok("POST", "reject_message", {"message_id": msg, "reason": "not now"})
        arrived, update = _first_queue_event(resp)
        assert update["count"] == 0 and "not now" in update["decided"]
        assert arrived - decided_at < 1.0


def test_live_stream_shows_only_the_keys_mailboxes(dash, tenant, hold, signed_in):
    mine, theirs = tenant(), tenant()
    d = signed_in(mine.approver.key)
    with d.http.get(f"{dash.base}/events/queue", stream=True, timeout=30) as stream:
        resp = stream.iter_lines(decode_unicode=True)
        _first_queue_event(resp)
        hold(theirs, subject="Not for you")
        mine_msg = hold(mine, subject="For you")
        _, update = _first_queue_event(resp)
        assert mine_msg in update["held"] and "Not for you" not in update["held"] + update["decided"]


def test_inbox_and_thread_show_decisions_and_authentication(dash, admin, tenant, hold, signed_in):
    t = tenant()
    outside = tenant(mode="autonomous")
    question = t.agent.ok("POST", "decide_email", {"from": t.mailbox, "to": outside.mailbox, "subject": "Ship it?",
                                                   "question": "Shall we ship on Friday?", "options": ["yes", "no"]})
    d = signed_in(t.approver.key)
    # decide_email starts a conversation, so gated_send holds it; approve it from the dashboard.
    shown = re.search(r'name="content_hash" value="([0-9a-f]{64})"', d.get(f"/messages/{question['message_id']}").text).group(1)
    assert d.post(f"/messages/{question['message_id']}/approve", {"content_hash": shown}).status_code == 303
    wait_for(lambda: approval_of(admin, question["message_id"])["status"] == "sent", timeout=15, what="the question to go out")
    asked = wait_for(lambda: [m for m in admin.ok("GET", "check_inbox", mailbox=outside.mailbox)["messages"]
                              if m["subject"] == "Ship it?"], timeout=15, what="the question to arrive")[0]
    outside.agent.ok("POST", "reply_email", {"message_id": asked["message_id"], "body": "yes"})
    # A hosted mailbox's agent answering is not a person deciding: the thread shows why.
    reply = wait_for(lambda: [m for m in admin.ok("GET", "get_thread", thread_id=question["thread_id"])["messages"]
                              if m["direction"] == "inbound"], timeout=15, what="the reply to arrive")[0]
    assert reply["decision_check"]["reason"] == "agent_mailbox"
    inbox = d.get(f"/inboxes?mailbox={t.mailbox}")
    assert inbox.status_code == 200 and "Re: Ship it?" in inbox.text
    thread = d.get(f"/threads/{question['thread_id']}")
    assert thread.status_code == 200
    verdict = approval_of(admin, reply["message_id"]).get("authentication") or {}
    assert ("sender verified" if verdict.get("verified_sender") else "sender not verified") in thread.text
    assert "unverified: agent_mailbox" in thread.text  # the decision check, highlighted with its reason
    assert 'class="badge status-approved">approved' in thread.text  # the question's approval
    # Another tenant's inbox and thread are not there.
    other = signed_in(outside.approver.key)
    assert other.get(f"/inboxes?mailbox={t.mailbox}").status_code == 404
    assert other.get(f"/threads/{question['thread_id']}").status_code == 404


def test_readme_dashboard_snippet_signs_in(tmp_path):
    """The README's Dashboard section, pasted after the tour: the key it prints signs in."""
    import os
    import subprocess
    from pathlib import Path

    from tests.conftest import Api, ServerProcess

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text[text.index("## Dashboard"):]
    snippet = re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)
    srv = ServerProcess(tmp_path / "multimail-data")
    try:
        Api(srv.base, srv.admin_key).ok("POST", "create_mailbox", {"address": "agent@acme.test", "oversight_mode": "gated_send"})
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", snippet], cwd=tmp_path, env=dict(os.environ),
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        key = result.stdout.strip().splitlines()[-1]
        assert Dashboard(srv.base).sign_in(key).status_code == 303
        assert Dashboard(srv.base).sign_in(key).headers["location"] == "/"
    finally:
        srv.stop()


def test_sign_out(dash, tenant, signed_in):
    t = tenant()
    d = signed_in(t.approver.key)
    assert d.post("/logout", {}, csrf=False).status_code == 403  # a page elsewhere cannot sign you out
    assert d.get("/").status_code == 200
    r = d.post("/logout", {})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "mm_dashboard" not in d.http.cookies
    assert d.get("/").status_code == 303


def test_partial_approvals_and_edits_wake_the_live_streams(dash, admin, tenant, hold, signed_in):
    """N of M: one approval of two leaves the message queued; the queue's stream and the
    message page's stream say so within a second (the long-poll versions include approvals and
    content, store/waits.py), and an edit made elsewhere reaches the page as fast."""
    t = tenant()
    admin.ok("POST", "update_mailbox", {"mailbox": t.mailbox, "approvals_required": 2})
    msg = hold(t, subject="Two approvers")
    item = admin.ok("GET", "list_pending", message_id=msg)["messages"][0]
    d = signed_in(t.approver.key)
    with d.http.get(f"{dash.base}/events/queue", stream=True, timeout=30) as resp:
        lines = resp.iter_lines(decode_unicode=True)
        _, first = _first_queue_event(lines)
        assert "0 of 2 approvals" in first["held"]
        approved_at = time.monotonic()
        admin.ok("POST", "approve_message", {"message_id": msg, "content_hash": item["content_hash"]})
        arrived, update = _first_queue_event(lines)
        assert update["count"] == 1 and "1 of 2 approvals" in update["held"]
        assert arrived - approved_at < 1.0, f"the queue updated after {arrived - approved_at:.2f} s"
    with d.http.get(f"{dash.base}/events/messages/{msg}", params={"v": item["content_hash"], "n": "1"}, stream=True,
                    timeout=30) as resp:
        lines = resp.iter_lines(decode_unicode=True)
        edited_at = time.monotonic()
        admin.ok("POST", "edit_message", {"message_id": msg, "to": "someone.else@partner.test"})
        event = None
        for line in lines:
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("changed", "approvals"):
                break
        assert event == "changed" and time.monotonic() - edited_at < 1.0
    # The queue page says how many more approvals an approval still needs.
    page = d.post(f"/messages/{msg}/approve", {"content_hash": admin.ok("GET", "list_pending", message_id=msg)["messages"][0]["content_hash"]})
    assert page.status_code == 303 and "done=recorded" in page.headers["location"] and "more=1" in page.headers["location"]
    assert "still waiting for 1 more approval" in d.get(page.headers["location"]).text
    assert admin.ok("GET", "list_pending", message_id=msg)["messages"][0]["status"] == "pending"


def _box(admin, address: str) -> dict:
    return next(b for b in admin.ok("GET", "list_mailboxes")["mailboxes"] if b["address"] == address)


def test_mailbox_policy_form_saves_through_the_service_and_shows_its_errors(dash, admin, tenant, signed_in):
    t = tenant()
    boss = signed_in(dash.admin_key)
    form = {"mailbox": t.mailbox, "approvers": "boss@partner.test\nana@partner.test", "approvals_required": "2",
            "approval_timeout": "3600", "on_timeout": "escalate", "escalate_to": "cfo@partner.test", "digest": "daily",
            "quiet_start": "22:00", "quiet_end": "07:00", "quiet_timezone": "Europe/Berlin", "contacts_only": "on"}
    r = boss.post("/mailboxes/policy", form)
    assert r.status_code == 303, r.text[:500]
    box = _box(admin, t.mailbox)
    assert box["approvers"] == ["boss@partner.test", "ana@partner.test"] and box["approvals_required"] == 2
    assert box["approval_timeout"] == 3600 and box["on_timeout"] == "escalate" and box["escalate_to"] == ["cfo@partner.test"]
    assert box["digest"] == "daily" and box["quiet_hours"] == {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"}
    assert box["contacts_only"] is True
    page = boss.get("/mailboxes").text
    assert "cfo@partner.test" in page and 'value="Europe/Berlin"' in page
    # The service's validation errors, on the page, with what was typed; nothing changes.
    for bad, words in ((dict(quiet_timezone="Mars/Olympus"), "Unknown time zone"),
                       (dict(approvals_required="two"), "approvals_required must be an integer"),
                       (dict(on_timeout="escalate", escalate_to=""), "escalate needs escalate_to"),
                       (dict(approvers="not an address"), "approvers")):
        r = boss.post("/mailboxes/policy", {**form, **bad})
        assert r.status_code == 400 and words in r.text and 'id="settings-error"' in r.text, (bad, r.text[:300])
        assert _box(admin, t.mailbox) == box
    # Quiet hours off, no timeout: cleared.
    r = boss.post("/mailboxes/policy", {**form, "quiet_start": "", "quiet_end": "", "quiet_timezone": "", "approval_timeout": "0",
                                        "on_timeout": "reject"})
    assert r.status_code == 303
    box = _box(admin, t.mailbox)
    assert box["quiet_hours"] is None and box["approval_timeout"] is None
    # An unticked box switches contacts_only off (a browser sends nothing for it).
    assert boss.post("/mailboxes/policy", {k: v for k, v in form.items() if k != "contacts_only"}).status_code == 303
    assert _box(admin, t.mailbox)["contacts_only"] is False
    # An approver sees the policy but cannot change it.
    d = signed_in(t.approver.key)
    assert "cfo@partner.test" in d.get("/mailboxes").text
    assert d.post("/mailboxes/policy", form).status_code == 403


def test_kill_switch_pauses_and_resumes_outbound_mail(dash, admin, tenant, hold, signed_in):
    t = tenant()
    boss = signed_in(dash.admin_key)
    # An approver can see what is paused but not flip the switch.
    assert signed_in(t.approver.key).post("/outbound/pause", {"mailbox": t.mailbox}).status_code == 403
    assert admin.ok("GET", "list_paused")["paused"] == []
    r = boss.post("/outbound/pause", {"mailbox": t.mailbox, "reason": "incident 42"})
    assert r.status_code == 303
    [p] = admin.ok("GET", "list_paused")["paused"]
    assert p["mailbox"] == t.mailbox and p["reason"] == "incident 42"
    assert "incident 42" in boss.get("/mailboxes").text
    # Approved mail waits while paused; the queue page says why.
    msg = hold(t, subject="Waits for the switch")
    t.approver.ok("POST", "approve_message", {"message_id": msg})
    time.sleep(1.5)
    assert approval_of(admin, msg)["status"] == "queued"
    assert "Outbound mail is paused" in signed_in(t.approver.key).get("/").text
    assert boss.post("/outbound/resume", {"mailbox": t.mailbox}).status_code == 303
    wait_for(lambda: approval_of(admin, msg)["status"] == "sent", timeout=15, what="the mail to go out after resume")
    assert admin.ok("GET", "list_paused")["paused"] == []
    # Every mailbox at once (resumed at once: the suite's other tests share this server).
    try:
        assert boss.post("/outbound/pause", {"reason": "all stop"}).status_code == 303
        [p] = admin.ok("GET", "list_paused")["paused"]
        assert p["all_mailboxes"] is True and 'id="resume-all"' in boss.get("/mailboxes").text
    finally:
        boss.post("/outbound/resume", {})
    assert admin.ok("GET", "list_paused")["paused"] == []
