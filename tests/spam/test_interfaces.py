"""The quarantine through the other interfaces: the hosted dialect's routes (GET /v1/emails,
…/report-spam, …/not-spam, and the spam states of the mailbox listing) and the MCP tools
list_spam, report_spam and not_spam with the hosted MCP server's parameters."""

from __future__ import annotations

import secrets

import anyio
import pytest

from tests.api.helpers import assert_error
from tests.hosted.conftest import Hosted
from tests.mcp.conftest import http_client, stdio_client

from .conftest import GTUBE, stored


def test_hosted_spam_routes(admin, server, mailbox, deliver, agent):
    box, other = mailbox(), mailbox()
    gtube = deliver(box, body=GTUBE)
    ham = deliver(box)
    deliver(other, body=GTUBE)
    spam_id, ham_id = stored(admin, box, gtube)["message_id"], stored(admin, box, ham)["message_id"]
    as_agent = Hosted(server.base, agent(box).key)
    listed = as_agent.ok("GET", "/v1/emails")
    [item] = listed["emails"]
    assert item["id"] == spam_id and item["status"] == "spam_quarantined"
    assert item["spam_verdict"] == "spam" and item["spam_score"] == 14  # GTUBE 15, DMARC pass -1
    assert listed["cursor"] is None
    assert as_agent.ok("GET", "/v1/emails", status="spam_flagged")["emails"] == []
    # the mailbox listing knows the spam states too
    by_status = as_agent.ok("GET", f"/v1/mailboxes/{box}/emails", status="spam_quarantined")["emails"]
    assert [e["id"] for e in by_status] == [spam_id]
    assert spam_id not in [e["id"] for e in as_agent.ok("GET", f"/v1/mailboxes/{box}/emails", status="unread")["emails"]]
    full = as_agent.ok("GET", f"/v1/mailboxes/{box}/emails/{ham_id}")
    assert full["spam_verdict"] == "ham" and full["status"] in ("read", "unread")
    assert as_agent.ok("POST", f"/v1/emails/{ham_id}/report-spam") == {"id": ham_id, "status": "spam_quarantined", "user_label": "spam"}
    assert {e["id"] for e in as_agent.ok("GET", "/v1/emails")["emails"]} == {spam_id, ham_id}
    assert as_agent.ok("POST", f"/v1/emails/{spam_id}/not-spam") == {"id": spam_id, "status": "unread", "user_label": "not_spam"}
    assert [e["id"] for e in as_agent.ok("GET", "/v1/emails")["emails"]] == [ham_id]
    assert_error(as_agent.call("POST", "/v1/emails/msg_nothing/report-spam"), 404, "message_not_found")
    assert_error(as_agent.call("GET", "/v1/emails", status="unread"), 400)
    assert_error(as_agent.call("GET", "/v1/emails", limit=500), 400)


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_mcp_spam_tools(admin, server, mailbox, deliver, agent, transport):
    box = mailbox()
    gtube = deliver(box, body=GTUBE)
    ham = deliver(box)
    spam_id, ham_id = stored(admin, box, gtube)["message_id"], stored(admin, box, ham)["message_id"]
    key = agent(box).key
    connect = stdio_client if transport == "stdio" else http_client

    async def main():
        async with connect(server.base, key) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            listed = (await c.call_tool("list_spam", {"limit": 10})).structured_content
            reported = (await c.call_tool("report_spam", {"email_id": ham_id})).structured_content
            released = (await c.call_tool("not_spam", {"email_id": spam_id})).structured_content
            after = (await c.call_tool("list_spam", {})).structured_content
            missing = await c.call_tool("report_spam", {"email_id": "msg_nothing"})
            bad = await c.call_tool("report_spam", {})
        return tools, listed, reported, released, after, missing, bad

    tools, listed, reported, released, after, missing, bad = anyio.run(main)
    assert set(tools["report_spam"].input_schema["properties"]) == {"email_id"}
    assert set(tools["not_spam"].input_schema["properties"]) == {"email_id"}
    assert "limit" in tools["list_spam"].input_schema["properties"]
    assert [m["message_id"] for m in listed["messages"]] == [spam_id]
    assert "snippet" not in listed["messages"][0]  # sender-written text is fenced as untrusted
    assert reported["spam"]["state"] == "quarantined" and reported["trained"] is None
    assert released["spam"]["state"] is None and released["read"] is False
    assert [m["message_id"] for m in after["messages"]] == [ham_id]
    assert missing.is_error and missing.structured_content["error"]["code"] == "message_not_found"
    assert bad.is_error


def test_a_search_leaves_the_quarantine_out_too_on_every_interface(admin, server, mailbox, deliver, agent):
    """check_inbox leaves quarantined mail out by default: a search must not be the way round it
    (verb `query`, hosted `q`, MCP check_inbox's `query` and its hosted filters)."""
    box = mailbox()
    word = f"zebra{secrets.token_hex(3)}"
    spam = deliver(box, subject=f"Prize {word}", body=f"{GTUBE} {word}")
    ham = deliver(box, subject=f"Notes {word}")
    spam_id, ham_id = stored(admin, box, spam)["message_id"], stored(admin, box, ham)["message_id"]
    key = agent(box)
    ids = lambda page: [m["message_id"] for m in page["messages"]]  # noqa: E731
    assert ids(key.ok("GET", "check_inbox", mailbox=box, query=word)) == [ham_id]
    assert ids(key.ok("GET", "check_inbox", mailbox=box, query=f"subject:prize {word}")) == []
    assert set(ids(key.ok("GET", "check_inbox", mailbox=box, query=word, include_spam="true"))) == {spam_id, ham_id}
    h = Hosted(server.base, key.key)
    assert [e["id"] for e in h.ok("GET", f"/v1/mailboxes/{box}/emails", q=word)["emails"]] == [ham_id]

    async def main():
        async with http_client(server.base, key.key) as c:
            searched = (await c.call_tool("check_inbox", {"mailbox_id": box, "query": word})).structured_content
            filtered = (await c.call_tool("check_inbox", {"mailbox_id": box, "subject_contains": "Prize"})).structured_content
        return searched, filtered

    searched, filtered = anyio.run(main)
    assert ids(searched) == [ham_id] and ids(filtered) == []
