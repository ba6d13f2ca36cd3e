"""Signed one-click decision links, over real HTTP: one per option in the decide_email message;
GET only shows a confirmation form (mail scanners prefetch links), POST records the decision like
a reply would (get_thread shows `is_reply: true, decision: <option>`, a decision.received event);
single use (409), tamper-proof (404), expiring (410)."""

from __future__ import annotations

import base64
import re
import sqlite3
import time
import uuid
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
import requests

from multimail_server.services.decision_links import token_for

from ..conftest import Api, ServerProcess, wait_for

LINK = re.compile(r"(https?://[^\s\"<>]+)?(/d/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")


def sent_parts(srv: ServerProcess, message_id: str) -> tuple[str, str]:
    """Text and HTML of the mail as the recipients got it (captured by the server)."""
    with sqlite3.connect(srv.data_dir / "multimail.db") as db:
        (raw,) = db.execute("select raw from captured_mail where message_id = ?", (message_id,)).fetchone()
    mail = message_from_bytes(raw, policy=default_policy)
    return mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()


def ask(srv: ServerProcess, api: Api, box: str, question: str = "Ship the release today?",
        options=("Ship it", "Wait", "Cancel")) -> tuple[dict, dict[str, str]]:
    asked = api.ok("POST", "decide_email", {"from": box, "to": "Boss <boss@partner.test>", "question": question, "options": list(options)})
    msg = wait_for(lambda: (m := api.ok("GET", "read_email", message_id=asked["message_id"]))["status"] == "sent" and m)
    # API clients (the agent that asked, too) never see a usable link: only the recipients do.
    assert not LINK.search(msg["body"]) and not LINK.search(msg["html"] or "")
    assert "one-click decision link" in msg["body"]
    text, html = sent_parts(srv, asked["message_id"])
    # One link per option, in the text and in the HTML alternative, in option order.
    text_links = [m.group(2) for m in LINK.finditer(text)]
    html_links = [m.group(2) for m in LINK.finditer(html)]
    assert len(text_links) == len(options) and len(set(text_links)) == len(options)
    assert html_links == text_links
    for option, line in zip(options, [l for l in text.splitlines() if "/d/" in l]):
        assert option in line
    return asked, dict(zip(options, text_links))


def box_for(admin: Api) -> str:
    address = f"links-{uuid.uuid4().hex[:8]}@acme.test"
    admin.ok("POST", "create_mailbox", {"address": address, "oversight_mode": "autonomous"})
    return address


def test_get_never_decides_post_decides_once(server, admin):
    box = box_for(admin)
    asked, links = ask(server, admin, box)
    url = server.base + links["Wait"]
    # A scanner's prefetch (GET, HEAD, twice) changes nothing.
    for _ in range(2):
        page = requests.get(url, timeout=10)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "Wait" in page.text and 'method="post"' in page.text
        assert page.headers.get("cache-control") == "no-store"
    requests.head(url, timeout=10)
    thread = admin.ok("GET", "get_thread", thread_id=asked["thread_id"])
    assert len(thread["messages"]) == 1 and thread["decision"] is None

    done = requests.post(url, timeout=10)
    assert done.status_code == 200 and "Wait" in done.text
    thread = admin.ok("GET", "get_thread", thread_id=asked["thread_id"])
    assert [m["direction"] for m in thread["messages"]] == ["outbound", "inbound"]
    answer = thread["messages"][1]
    assert answer["is_reply"] is True and answer["decision"] == "Wait"
    assert thread["decision"] == "Wait"
    events = admin.ok("GET", "audit_log", message_id=answer["message_id"])["events"]
    assert [e["action"] for e in events if e["action"].startswith("decision.")] == ["decision.received"]
    assert events[0]["details"]["via"] == "decision_link"

    # Single use: the same link again, or another option's link, is refused and decides nothing.
    again = requests.post(url, timeout=10)
    assert again.status_code == 409 and "already" in again.text.lower()
    other = requests.post(server.base + links["Ship it"], timeout=10)
    assert other.status_code == 409
    assert requests.get(server.base + links["Cancel"], timeout=10).status_code == 409
    thread = admin.ok("GET", "get_thread", thread_id=asked["thread_id"])
    assert [m["decision"] for m in thread["messages"]] == [None, "Wait"]


def test_tampered_or_unknown_tokens_are_refused(server, admin):
    box = box_for(admin)
    asked, links = ask(server, admin, box)
    nonce, sig = links["Ship it"].removeprefix("/d/").split(".")
    other_nonce = links["Wait"].removeprefix("/d/").split(".")[0]
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    for token in (f"{nonce}.{flipped}", f"{other_nonce}.{sig}", nonce, "x.y", "a" * 300, f"{nonce}.{sig}.x"):
        for method in (requests.get, requests.post):
            r = method(f"{server.base}/d/{token}", timeout=10)
            assert r.status_code == 404, (token, r.status_code)
    assert admin.ok("GET", "get_thread", thread_id=asked["thread_id"])["decision"] is None
    # The genuine link still works after those attempts.
    assert requests.post(server.base + links["Ship it"], timeout=10).status_code == 200
    assert admin.ok("GET", "get_thread", thread_id=asked["thread_id"])["decision"] == "Ship it"


def test_confirmation_page_escapes_the_question_and_option(server, admin):
    box = box_for(admin)
    _, links = ask(server, admin, box, question="Deploy <script>alert(1)</script> & \"friends\"?",
                   options=("<b>Yes</b>", "No <img src=x onerror=alert(2)>"))
    page = requests.get(server.base + links["<b>Yes</b>"], timeout=10)
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;" in page.text
    assert "<b>Yes</b>" not in page.text and "&lt;b&gt;Yes&lt;/b&gt;" in page.text
    assert "<img" not in page.text


def test_a_retried_decide_email_keeps_its_links(server, admin):
    box = box_for(admin)
    body = {"from": box, "to": "boss@partner.test", "question": "Retry-safe?", "options": ["Yes", "No"]}
    first = admin.ok("POST", "decide_email", body)
    second = admin.ok("POST", "decide_email", body)
    assert second["message_id"] == first["message_id"] and second["duplicate"] is True


def test_an_identical_later_question_gets_its_own_links(server, admin):
    """The link of a second, identical question (new request after the first was answered) is
    that question's own link."""
    box = box_for(admin)
    admin.ok("POST", "update_mailbox", {"mailbox": box, "idempotency_window_seconds": 0})
    asked1, links1 = ask(server, admin, box, question="Same question?", options=("Yes", "No"))
    asked2, links2 = ask(server, admin, box, question="Same question?", options=("Yes", "No"))
    assert asked1["message_id"] != asked2["message_id"]
    assert set(links1.values()).isdisjoint(links2.values())
    assert requests.post(server.base + links2["No"], timeout=10).status_code == 200
    assert admin.ok("GET", "get_thread", thread_id=asked2["thread_id"])["decision"] == "No"
    assert admin.ok("GET", "get_thread", thread_id=asked1["thread_id"])["decision"] is None


@pytest.fixture(scope="module")
def short_ttl_server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("links-ttl"), env={"MULTIMAIL_DECISION_LINK_TTL_SECONDS": "2"})
    yield srv
    srv.stop()


def test_expired_links_answer_410(short_ttl_server):
    admin = Api(short_ttl_server.base, short_ttl_server.admin_key)
    box = box_for(admin)
    asked, links = ask(short_ttl_server, admin, box)
    time.sleep(2.5)
    page = requests.get(short_ttl_server.base + links["Ship it"], timeout=10)
    assert page.status_code == 410 and "expired" in page.text.lower()
    assert requests.post(short_ttl_server.base + links["Ship it"], timeout=10).status_code == 410
    assert admin.ok("GET", "get_thread", thread_id=asked["thread_id"])["decision"] is None


def test_links_of_a_question_that_was_not_sent_decide_nothing(server, admin, make_key):
    """An agent must never answer its own question: links are closed until the question went out
    (and API clients never see them anyway)."""
    box = f"held-{uuid.uuid4().hex[:8]}@acme.test"
    admin.ok("POST", "create_mailbox", {"address": box, "oversight_mode": "gated_send"})
    asked = admin.ok("POST", "decide_email", {"from": box, "to": "boss@partner.test", "question": "Pay?", "options": ["Yes", "No"]})
    assert asked["status"] == "pending"
    with sqlite3.connect(server.data_dir / "multimail.db") as db:
        nonces = [r[0] for r in db.execute("select id from decision_links where message_id = ?", (asked["message_id"],))]
    assert len(nonces) == 2
    # The stored body holds no link at all (they are added only to the copy handed to external
    # recipients); mint a genuine token from the server's own key, as only the server could.
    with sqlite3.connect(server.data_dir / "multimail.db") as db:
        (body,) = db.execute("select body_text from messages where id = ?", (asked["message_id"],)).fetchone()
        (key_b64,) = db.execute("select private_key from server_keys where kind = 'link-hmac'").fetchone()
    assert not LINK.search(body)
    token_path = "/d/" + token_for(base64.b64decode(key_b64), nonces[0])
    page = requests.post(server.base + token_path, timeout=10)
    assert page.status_code == 410
    assert admin.ok("GET", "get_thread", thread_id=asked["thread_id"])["decision"] is None
