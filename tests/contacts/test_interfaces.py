"""The address book through the other interfaces: the hosted dialect's /v1/contacts routes (as the
hosted MCP server and SDK call them), the MCP tools add_contact, search_contacts and delete_contact
(stdio and HTTP), this server's SDK (sync and async), and `multimail contacts`. Same rules
everywhere: an agent's contact is not approved, another tenant's contact is a 404."""

from __future__ import annotations

import json
import subprocess
import sys

import anyio
import pytest

from tests.api.helpers import assert_error
from tests.client.conftest import run_client, v
from tests.hosted.conftest import Hosted
from tests.mcp.conftest import http_client, stdio_client


def test_hosted_routes_add_list_delete(admin, server, mailbox, agent, approver):
    box, other = mailbox(), mailbox()
    as_agent, as_approver = Hosted(server.base, agent(box).key), Hosted(server.base, approver(box).key)
    made = as_agent.ok("POST", "/v1/contacts", {"name": "Ana", "email": "ana@partner.test", "tags": ["client"]}, expect=201)
    mailbox_id = made["mailbox_id"]
    assert made == {"id": made["id"], "email": "ana@partner.test", "name": "Ana", "tags": ["client"], "mailbox_id": mailbox_id,
                    "mailbox": box, "approved": False, "created_at": made["created_at"], "updated_at": made["updated_at"]}
    again = as_approver.ok("POST", "/v1/contacts", {"name": "Ana A.", "email": "ANA@Partner.test"}, expect=200)
    assert (again["id"], again["approved"], again["name"]) == (made["id"], True, "Ana A.")
    assert [c["id"] for c in as_agent.ok("GET", "/v1/contacts")["contacts"]] == [made["id"]]
    assert [c["id"] for c in as_agent.ok("GET", "/v1/contacts", q="ana a")["contacts"]] == [made["id"]]
    assert as_agent.ok("GET", "/v1/contacts", q="zzz")["contacts"] == []
    assert as_agent.ok("GET", "/v1/contacts", mailbox_id=mailbox_id, limit=1)["next_cursor"] is None
    # the admin key sees several mailboxes: it names one
    h = Hosted(server.base, server.admin_key)
    assert_error(h.call("POST", "/v1/contacts", {"name": "X", "email": "x@partner.test"}), 400, "mailbox_required")
    theirs = h.ok("POST", "/v1/contacts", {"name": "T", "email": "t@partner.test", "mailbox_id": other}, expect=201)
    assert_error(as_agent.call("DELETE", f"/v1/contacts/{theirs['id']}"), 404, "contact_not_found")
    assert_error(as_agent.call("POST", "/v1/contacts", {"name": "Bad", "email": "not an address"}), 400, "invalid_address")
    assert as_agent.ok("DELETE", f"/v1/contacts/{made['id']}") == {"id": made["id"], "status": "deleted"}
    assert as_agent.ok("GET", "/v1/contacts")["contacts"] == []
    assert_error(as_agent.call("DELETE", f"/v1/contacts/{made['id']}"), 404, "contact_not_found")


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_mcp_tools(admin, server, mailbox, agent, approver, transport):
    box = mailbox(oversight_mode="autonomous", contacts_only=True)
    agent_key, approver_key = agent(box).key, approver(box).key
    connect = (lambda key: stdio_client(server.base, key)) if transport == "stdio" else (lambda key: http_client(server.base, key))

    async def main():
        async with connect(agent_key) as a:
            tools = {t.name: t for t in (await a.list_tools()).tools}
            added = (await a.call_tool("add_contact", {"name": "Max", "email": "max@bücher.test", "tags": ["vip"]})).structured_content
            held = (await a.call_tool("send_email", {"to": ["max@xn--bcher-kva.test"], "subject": "s1", "markdown": "m"})).structured_content
            bad = await a.call_tool("add_contact", {"name": "Bad", "email": "nope"})
            unknown_arg = await a.call_tool("add_contact", {"name": "X", "email": "x@partner.test", "colour": "red"})
        async with connect(approver_key) as o:
            approved = (await o.call_tool("add_contact", {"name": "Max", "email": "MAX@BÜCHER.test"})).structured_content
            found = (await o.call_tool("search_contacts", {"query": "bücher"})).structured_content
            everyone = (await o.call_tool("search_contacts", {})).structured_content
        async with connect(agent_key) as a:
            went = (await a.call_tool("send_email", {"to": ["max@xn--bcher-kva.test"], "subject": "s2", "markdown": "m"})).structured_content
            deleted = (await a.call_tool("delete_contact", {"contact_id": added["contact"]["contact_id"]})).structured_content
            gone = await a.call_tool("delete_contact", {"contact_id": added["contact"]["contact_id"]})
        return tools, added, held, bad, unknown_arg, approved, found, everyone, went, deleted, gone

    tools, added, held, bad, unknown_arg, approved, found, everyone, went, deleted, gone = anyio.run(main)
    assert {"add_contact", "search_contacts", "delete_contact"} <= set(tools)
    assert set(tools["add_contact"].input_schema["required"]) == {"name", "email"}
    assert tools["search_contacts"].annotations.read_only_hint is True
    assert added["created"] is True and added["contact"]["approved"] is False and added["contact"]["tags"] == ["vip"]
    assert held["status"] == "pending"  # the agent's own contact does not count for contacts_only
    assert bad.is_error and bad.structured_content["error"]["code"] == "invalid_address"
    assert unknown_arg.is_error and unknown_arg.structured_content["error"]["code"] == "invalid_arguments"
    assert approved["created"] is False and approved["contact"]["approved"] is True
    assert [c["contact_id"] for c in found["contacts"]] == [added["contact"]["contact_id"]]
    assert len(everyone["contacts"]) == 1
    assert went["status"] in ("queued", "sent")
    assert deleted["deleted"] is True
    assert gone.is_error and gone.structured_content["error"]["code"] == "contact_not_found"


def test_a_read_only_key_is_not_offered_the_writing_tools(admin, server, mailbox):
    box = mailbox()
    reader = admin.ok("POST", "create_api_key", {"scopes": ["read"], "mailboxes": [box], "name": "reader"})["api_key"]

    async def main():
        async with http_client(server.base, reader) as r:
            return {t.name for t in (await r.list_tools()).tools}

    names = anyio.run(main)
    assert "search_contacts" in names and not {"add_contact", "delete_contact"} & names


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_sdk_methods(server, mailbox, agent, flavor):
    box = mailbox(oversight_mode="autonomous")
    key = agent(box).key

    async def calls(c):
        added = await v(c.add_contact("Dora <dora@partner.test>", tags=["x"]))
        again = await v(c.add_contact("DORA@partner.test", mailbox=box, name="Dora D."))
        page = await v(c.search_contacts("dora d", limit=10))
        deleted = await v(c.delete_contact(added["contact"]["contact_id"]))
        return added, again, page, deleted

    added, again, page, deleted = run_client(flavor, calls, api_key=key, base_url=server.base, retry_backoff=0)
    assert added["created"] is True and added["contact"]["name"] == "Dora" and added["contact"]["mailbox"] == box
    assert again["created"] is False and again["contact"]["name"] == "Dora D."
    assert [c["contact_id"] for c in page["contacts"]] == [added["contact"]["contact_id"]] and page["next_cursor"] is None
    assert deleted["deleted"] is True


def test_cli_contacts_add_list_delete(admin, server, mailbox):
    box = mailbox(oversight_mode="autonomous")

    def mm(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "multimail_server.cli", *args, "--database-url", server.database_url],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    assert "approved" in mm("contacts", "add", box, "eve@partner.test", "--name", "Eve", "--tag", "ops").stdout
    [c] = admin.ok("GET", "search_contacts", mailbox=box)["contacts"]
    assert (c["email"], c["name"], c["tags"], c["approved"], c["created_by"]) == ("eve@partner.test", "Eve", ["ops"], True, "cli")
    assert [r["contact_id"] for r in json.loads(mm("contacts", "list", "--mailbox", box, "-q", "eve", "--json").stdout)] == [c["contact_id"]]
    assert "Eve" in mm("contacts", "list", "--mailbox", box).stdout
    mm("mailboxes", "policy", box, "--contacts-only")
    assert next(m for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == box)["contacts_only"] is True
    assert "Deleted eve@partner.test" in mm("contacts", "delete", c["contact_id"]).stdout
    assert admin.ok("GET", "search_contacts", mailbox=box)["contacts"] == []


def test_mcp_configure_mailbox_sets_contacts_only_for_an_admin_only(admin, server, mailbox, agent):
    box = mailbox(oversight_mode="autonomous")
    agent_key = agent(box).key

    async def main():
        async with http_client(server.base, agent_key) as a:
            refused = await a.call_tool("configure_mailbox", {"mailbox_id": box, "contacts_only": True})
        async with http_client(server.base, server.admin_key) as o:
            done = (await o.call_tool("configure_mailbox", {"mailbox_id": box, "contacts_only": True})).structured_content
        return refused, done

    refused, done = anyio.run(main)
    assert refused.is_error
    assert done["contacts_only"] is True
    assert next(m for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == box)["contacts_only"] is True
