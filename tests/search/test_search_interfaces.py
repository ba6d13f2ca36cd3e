"""Search through the real interfaces of a running server (SQLite and PostgreSQL): check_inbox
`query` on the verb API and in the SDK, the hosted list's `q`, MCP's check_inbox `query` over
stdio and HTTP, and the dashboard's search box; bad queries get the API's error shape; no
interface reaches another mailbox's mail."""

from __future__ import annotations

import html
import secrets

import anyio
import pytest

from multimail_server.client import BadRequest, MultiMail
from tests.api.helpers import assert_error
from tests.dashboard.conftest import Dashboard
from tests.hosted.conftest import Hosted
from tests.mcp.conftest import http_client, stdio_client


@pytest.fixture
def searchable(mailbox, inbound):
    """A mailbox with three messages, one with a unique word; returns (mailbox, word, subjects)."""
    box = mailbox()
    word = "zq" + secrets.token_hex(4)
    inbound(box, subject="Invoice for March", body=f"The {word} invoice is attached.")
    inbound(box, subject="Lunch?", body="Friday at noon.")
    inbound(box, subject="Invoice overdue", body="Please pay the March invoice.")
    return box, word


def subjects(page: dict) -> list[str]:
    return [m["subject"] for m in page["messages"]]


def test_check_inbox_query_on_the_verb_api(admin, agent, mailbox, searchable):
    box, word = searchable
    key = agent(box)
    assert subjects(key.ok("GET", "check_inbox", mailbox=box, query="invoice")) == ["Invoice overdue", "Invoice for March"]
    assert subjects(key.ok("GET", "check_inbox", mailbox=box, query=word)) == ["Invoice for March"]
    assert subjects(key.ok("GET", "check_inbox", mailbox=box, query="invoice -march")) == []
    assert subjects(key.ok("GET", "check_inbox", mailbox=box, query='subject:invoice -"pay the"')) == ["Invoice for March"]
    assert subjects(key.ok("GET", "check_inbox", mailbox=box, query="lunch OR overdue", limit=1)) == ["Invoice overdue"]
    page = key.ok("GET", "check_inbox", mailbox=box, query="lunch OR overdue", limit=1)
    assert subjects(key.ok("GET", "check_inbox", mailbox=box, query="lunch OR overdue", cursor=page["next_cursor"])) == ["Lunch?"]
    assert subjects(key.ok("GET", "check_inbox", mailbox=box, query="   ")) == ["Invoice overdue", "Lunch?", "Invoice for March"]

    err = assert_error(key.get("check_inbox", mailbox=box, query='subject:"never closed'), 400, "invalid_query")
    assert err["details"] == {"field": "query", "position": 8, "expected": 'a closing "'}
    assert_error(key.get("check_inbox", mailbox=box, query="colour:red"), 400, "invalid_query")
    assert_error(key.get("check_inbox", mailbox=box, query="x" * 1001), 400, "invalid_query")

    # another mailbox's key finds nothing of this one, and cannot name it
    other = mailbox()
    outsider = agent(other)
    assert subjects(outsider.ok("GET", "check_inbox", mailbox=other, query=word)) == []
    assert_error(outsider.get("check_inbox", mailbox=box, query=word), 404)


def test_the_hosted_list_searches_with_q(server, agent, searchable, admin):
    box, word = searchable
    h = Hosted(server.base, agent(box).key)
    listed = h.ok("GET", f"/v1/mailboxes/{box}/emails", q="invoice has:attachment OR march")
    assert [e["subject"] for e in listed["emails"]] == ["Invoice overdue", "Invoice for March"]
    listed = h.ok("GET", f"/v1/mailboxes/{box}/emails", q=word, status="unread")
    assert [e["subject"] for e in listed["emails"]] == ["Invoice for March"]
    first = h.ok("GET", f"/v1/mailboxes/{box}/emails", q="invoice", limit=1)
    rest = h.ok("GET", f"/v1/mailboxes/{box}/emails", q="invoice", limit=1, cursor=first["cursor"])
    assert [e["subject"] for e in first["emails"] + rest["emails"]] == ["Invoice overdue", "Invoice for March"]
    err = assert_error(h.call("GET", f"/v1/mailboxes/{box}/emails", q="is:starred"), 400, "invalid_query")
    assert err["details"] == {"field": "q", "position": 3, "expected": "is:unread or is:read"}


def test_the_sdk_passes_query_and_raises_invalid_query(server, agent, searchable):
    box, word = searchable
    key = agent(box).key
    with MultiMail(api_key=key, base_url=server.base) as client:
        assert subjects(client.check_inbox(box, query=f"{word} OR lunch")) == ["Lunch?", "Invoice for March"]
        assert [m["subject"] for m in client.iter_inbox(box, query="invoice", page_size=1)] == [
            "Invoice overdue", "Invoice for March"]
        with pytest.raises(BadRequest) as err:
            client.check_inbox(box, query="before:someday")
    assert err.value.code == "invalid_query" and err.value.details["position"] == 7


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_mcp_check_inbox_takes_a_query(server, agent, searchable, transport):
    box, word = searchable
    key = agent(box).key
    connect = stdio_client if transport == "stdio" else http_client

    async def main():
        async with connect(server.base, key) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            hit = await c.call_tool("check_inbox", {"mailbox_id": box, "query": f"{word} OR lunch"})
            bad = await c.call_tool("check_inbox", {"mailbox_id": box, "query": "(unclosed"})
        return tools, hit, bad

    tools, hit, bad = anyio.run(main)
    assert "query" in tools["check_inbox"].input_schema["properties"]
    assert not hit.is_error and subjects(hit.structured_content) == ["Lunch?", "Invoice for March"]
    assert bad.is_error and bad.structured_content["error"]["code"] == "invalid_query"
    assert bad.structured_content["error"]["details"]["expected"] == "a closing ')'"


def test_the_dashboard_search_box_finds_escapes_and_explains(server, mailbox, inbound, approver):
    box = mailbox()
    inbound(box, subject="<script>alert(1)</script> quarterly", body="numbers")
    inbound(box, subject="Unrelated", body="other")
    d = Dashboard(server.base)
    assert d.sign_in(approver(box).key).status_code == 303
    page = d.get("/inboxes", params={"mailbox": box, "q": "quarterly"})
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    assert html.escape("<script>alert(1)</script>", quote=False) in page.text and "<script>alert(1)" not in page.text
    assert "Unrelated" not in page.text
    assert 'value="quarterly"' in page.text

    sneaky = '"><script>x()</script>'
    bad = d.get("/inboxes", params={"mailbox": box, "q": sneaky})
    assert bad.status_code == 400 and 'id="search-error"' in bad.text
    assert "<script>x()" not in bad.text and "&#34;&gt;&lt;script&gt;" in bad.text  # echoed in the box, escaped
    none = d.get("/inboxes", params={"mailbox": box, "q": "nothingmatchesthis"})
    assert none.status_code == 200 and "No messages match this search." in none.text
    # the thread page offers the same search, for the thread's mailbox
    first = d.get("/inboxes", params={"mailbox": box, "q": "quarterly"})
    thread_id = first.text.split('href="/threads/')[1].split('"')[0]
    thread = d.get(f"/threads/{thread_id}")
    assert thread.status_code == 200 and 'action="/inboxes"' in thread.text and 'name="q"' in thread.text
