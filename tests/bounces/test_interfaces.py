"""The suppression list through the other interfaces: the hosted dialect's /v1/suppression routes
(as code written for the hosted service calls them) and the MCP tools check_suppression and
remove_suppression (over stdio and HTTP), with the same rule: an agent key never removes."""

from __future__ import annotations

import anyio
import pytest

from tests.api.helpers import assert_error
from tests.conftest import wait_for
from tests.hosted.conftest import Hosted
from tests.mcp.conftest import http_client, stdio_client

from .conftest import dsn


def test_hosted_routes_list_and_remove_and_an_agent_key_cannot_remove(admin, server, mailbox, agent, approver, send_out, smtp_to):
    box = mailbox(oversight_mode="autonomous")
    sent = send_out(box, "lee@partner.test")
    smtp_to(sent.mail_from, dsn(sent, [("lee@partner.test", "failed", "5.2.1", "550 5.2.1 mailbox disabled")]))
    mbx = admin.ok("GET", "list_mailboxes")
    mailbox_id = next(m["mailbox_id"] for m in mbx["mailboxes"] if m["address"] == box)
    as_agent, as_approver = Hosted(server.base, agent(box).key), Hosted(server.base, approver(box).key)

    def listed():
        return as_agent.ok("GET", "/v1/suppression")["suppressions"]

    [entry] = wait_for(listed, what="the bounce to suppress")
    assert entry == {"email_address": "lee@partner.test", "reason": "hard_bounce", "detail": entry["detail"], "mailbox_id": mailbox_id,
                     "mailbox": box, "message_id": sent.message_id, "created_at": entry["created_at"]}
    assert "5.2.1" in entry["detail"]
    assert as_agent.ok("GET", "/v1/suppression", limit=1, mailbox_id=mailbox_id)["next_cursor"] is None
    assert_error(as_agent.call("DELETE", "/v1/suppression/LEE%40partner.test"), 403, "insufficient_scope")
    assert len(listed()) == 1
    done = as_approver.ok("DELETE", "/v1/suppression/Lee%40Partner.test")
    assert done == {"email_address": "lee@partner.test", "status": "removed", "removed": 1}
    assert listed() == []
    assert_error(as_approver.call("DELETE", "/v1/suppression/lee%40partner.test"), 404, "suppression_not_found")
    assert_error(as_approver.call("DELETE", "/v1/suppression/not-an-address"), 400, "invalid_address")


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_mcp_tools_check_and_remove(admin, server, mailbox, agent, approver, transport):
    box = mailbox(oversight_mode="autonomous")
    admin.ok("POST", "add_suppression", {"mailbox": box, "address": "max@bücher.test", "detail": "complained by phone"})
    agent_key, approver_key = agent(box).key, approver(box).key
    connect = (lambda key: stdio_client(server.base, key)) if transport == "stdio" else (lambda key: http_client(server.base, key))

    async def main():
        async with connect(agent_key) as a:
            tools = {t.name for t in (await a.list_tools()).tools}
            checked = (await a.call_tool("check_suppression", {"email_address": "MAX@xn--bcher-kva.test"})).structured_content
            refused = await a.call_tool("send_email", {"to": ["Max <max@BÜCHER.test>"], "subject": "s", "markdown": "m"})
        async with connect(approver_key) as o:
            approver_tools = {t.name for t in (await o.list_tools()).tools}
            removed = (await o.call_tool("remove_suppression", {"email_address": "max@bücher.test"})).structured_content
            again = await o.call_tool("remove_suppression", {"email_address": "max@bücher.test"})
        return tools, checked, refused, approver_tools, removed, again

    tools, checked, refused, approver_tools, removed, again = anyio.run(main)
    assert "check_suppression" in tools and "remove_suppression" not in tools  # an agent key is not offered removal
    assert {"check_suppression", "remove_suppression"} <= approver_tools
    assert [e["address"] for e in checked["suppressions"]] == ["max@xn--bcher-kva.test"]
    assert checked["suppressions"][0]["detail"] == "complained by phone"
    assert refused.is_error and refused.structured_content["error"]["code"] == "suppressed"
    assert [e["address"] for e in removed["removed"]] == ["max@xn--bcher-kva.test"]
    assert again.is_error and again.structured_content["error"]["code"] == "suppression_not_found"
    assert admin.ok("GET", "list_suppressions", mailbox=box)["suppressions"] == []


def test_an_agent_calling_remove_suppression_over_mcp_anyway_is_refused(admin, server, mailbox, agent):
    box = mailbox()
    admin.ok("POST", "add_suppression", {"mailbox": box, "address": "ned@partner.test"})

    async def main():
        async with http_client(server.base, agent(box).key) as a:
            return await a.call_tool("remove_suppression", {"email_address": "ned@partner.test"})

    result = anyio.run(main)
    assert result.is_error
    assert [e["address"] for e in admin.ok("GET", "list_suppressions", mailbox=box)["suppressions"]] == ["ned@partner.test"]


def test_a_bounced_message_reads_send_failed_in_the_hosted_dialect(admin, server, mailbox, send_out, smtp_to):
    box = mailbox(oversight_mode="autonomous")
    sent = send_out(box, "olga@partner.test")
    smtp_to(sent.mail_from, dsn(sent, [("olga@partner.test", "failed", "5.1.1", "user unknown")]))
    wait_for(lambda: admin.ok("GET", "read_email", message_id=sent.message_id)["status"] == "bounced", what="the bounce")
    h = Hosted(server.base, server.admin_key)
    assert h.ok("GET", f"/v1/mailboxes/{box}/emails/{sent.message_id}")["status"] == "send_failed"
    listed = h.ok("GET", f"/v1/mailboxes/{box}/emails", status="send_failed")
    assert [e["id"] for e in listed["emails"]] == [sent.message_id]
