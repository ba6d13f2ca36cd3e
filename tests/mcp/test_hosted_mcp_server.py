"""The hosted service's own MCP server (github.com/multimail-dev/mcp-server v0.7.0, TypeScript),
unchanged, against this server: built with npm and started over stdio by the `mcp` SDK's client,
as Claude Desktop would start it, with its environment (MULTIMAIL_API_KEY, MULTIMAIL_API_URL,
MULTIMAIL_MAILBOX_ID) pointing at the session's server. Its tools for issue 15's features are
called and their effect is read back through our own verb API: schedule and edit a scheduled
send (with oversight), a send_at in the past or years ahead, contacts, the suppression list, the
spam quarantine, and check_inbox's filters. It has no forward tool and its check_inbox takes no
search query, so those are not here (tests/scheduling/test_forward.py, tests/search/).

The package is not on the npm registry, so the test builds the copy in hosted_mcp_server/ (see
its README) once into pytest's cache folder: npm installs the pinned dependencies, tsc compiles.
Without node/npm or the registry the test is skipped, except under CI=true, where it fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.api.conftest import agent, approver, inbound, no_server_errors, outside  # noqa: F401
from tests.api.helpers import find_in_inbox
from tests.scheduling.conftest import ahead, parse_time

VERSION = "0.7.0"
SOURCE = Path(__file__).parent / "hosted_mcp_server"
REMOTE = "ana@partner.test"


def _unavailable(why: str):
    if os.environ.get("CI") == "true":
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="session")
def hosted_mcp_server(request) -> Path:
    """The built dist/index.js (built once per version into pytest's cache: ~10 s)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        _unavailable("node and npm are needed to run the hosted MCP server")
    folder = Path(request.config.cache.mkdir(f"hosted-mcp-server-{VERSION}"))
    built, marker = folder / "dist" / "index.js", folder / "built"
    sources = {name: (SOURCE / name).read_bytes() for name in ("index.ts", "package.json", "tsconfig.json")}
    stamp = json.dumps({name: hashlib.sha256(data).hexdigest() for name, data in sources.items()})
    if not (marker.exists() and marker.read_text() == stamp and built.exists()):
        for name, data in sources.items():
            (folder / name).write_bytes(data)
        installed = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                                   cwd=folder, capture_output=True, text=True, timeout=600)
        if installed.returncode != 0:
            _unavailable(f"npm could not install the hosted MCP server's dependencies: {installed.stderr.strip()[-500:]}")
        compiled = subprocess.run([str(folder / "node_modules" / ".bin" / "tsc"), "-p", "."], cwd=folder,
                                  capture_output=True, text=True, timeout=300)
        # A compile error is a failure, not a skip: the pinned dependencies are installed.
        assert compiled.returncode == 0, f"tsc failed on the hosted MCP server:\n{compiled.stdout[-3000:]}"
        marker.write_text(stamp)
    return built


@contextlib.asynccontextmanager
async def hosted_mcp(built: Path, base: str, key: str, mailbox: str | None = None) -> AsyncIterator[Client]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MULTIMAIL_")}
    environ.update({"MULTIMAIL_API_KEY": key, "MULTIMAIL_API_URL": base})
    if mailbox:
        environ["MULTIMAIL_MAILBOX_ID"] = mailbox
    params = StdioServerParameters(command=shutil.which("node") or "node", args=[str(built)], env=environ)
    async with Client(params, read_timeout_seconds=60, mode="legacy") as client:
        yield client


def answer(result) -> dict:
    """A tool's answer: the hosted server puts our JSON answer (or a setup nudge before it) as text."""
    assert not result.is_error, result.content
    return json.loads(result.content[-1].text)


def refusal(result) -> str:
    """The text of a tool error that our server answered: the hosted server throws `API error
    <status>: …` for a non-2xx (and an `MCP error -32602` when its own zod schema refuses first,
    e.g. an address with a U-label domain, which never reaches us)."""
    assert result.is_error, result.content
    text = result.content[0].text
    assert text.startswith(("API error ", "API key lacks required scope")), text  # the latter is its 403
    return text


def test_hosted_mcp_server_tools_for_scheduling_contacts_suppression_and_spam(
        hosted_mcp_server, server, admin, mailbox, agent, approver, inbound):  # noqa: F811
    box = mailbox(oversight_mode="gated_send", display_name="Hosted MCP box")
    key, human = agent(box), approver(box)
    incoming = inbound(box, subject="For the spam tools")
    admin.ok("POST", "add_suppression", {"mailbox": box, "address": "kim@bücher.test", "detail": "asked us to stop"})

    async def main():
        with anyio.fail_after(90):
            return await steps()

    async def steps():
        out: dict = {}
        async with hosted_mcp(hosted_mcp_server, server.base, key.key, box) as c:
            tools = {t.name for t in (await c.list_tools()).tools}
            out["tools"] = tools
            later = ahead(600)
            out["scheduled"] = answer(await c.call_tool("schedule_email", {
                "to": [REMOTE], "subject": "Hosted MCP later", "markdown": "**soon**", "send_at": later}))
            count = "SELECT COUNT(*) FROM messages"
            out["stored_before"] = server.query(count)[0][0]
            out["past"] = refusal(await c.call_tool("schedule_email", {
                "to": [REMOTE], "subject": "x", "markdown": "x", "send_at": ahead(-3600)}))
            out["far"] = refusal(await c.call_tool("send_email", {
                "to": [REMOTE], "subject": "x", "markdown": "x", "send_at": ahead(400 * 86400)}))
            out["not_iso"] = refusal(await c.call_tool("send_email", {
                "to": [REMOTE], "subject": "x", "markdown": "x", "send_at": "next tuesday"}))
            out["stored_after_bad_times"] = server.query(count)[0][0]
            mid = out["scheduled"]["id"]
            out["pending_before"] = [m["message_id"] for m in human.ok("GET", "list_pending", mailbox=box)["messages"]]
            human.ok("POST", "approve_message", {"message_id": mid})
            out["listed_scheduled"] = answer(await c.call_tool("check_inbox", {"status": "scheduled"}))
            out["locked"] = refusal(await c.call_tool("edit_scheduled_email", {"email_id": mid, "to": ["eve@elsewhere.test"]}))
            out["after_locked"] = key.ok("GET", "read_email", message_id=mid)
            out["moved"] = answer(await c.call_tool("edit_scheduled_email", {"email_id": mid, "send_at": ahead(1200),
                                                                              "subject": "Hosted MCP, moved"}))
            out["after_move"] = key.ok("GET", "read_email", message_id=mid)
            out["cancelled"] = answer(await c.call_tool("cancel_message", {"email_id": mid}))

            out["suppressed_send"] = refusal(await c.call_tool("send_email", {
                "to": ["KIM@xn--bcher-kva.test"], "subject": "x", "markdown": "x"}))
            out["suppressed_tag"] = refusal(await c.call_tool("schedule_email", {
                "to": ["Kim+News@XN--BCHER-KVA.test"], "subject": "x", "markdown": "x", "send_at": ahead(600)}))
            out["stored_after_suppressed"] = server.query(count)[0][0]
            out["suppression"] = answer(await c.call_tool("check_suppression", {"limit": 10}))
            out["agent_remove"] = refusal(await c.call_tool("remove_suppression", {"email_address": "kim@xn--bcher-kva.test"}))

            out["contact"] = answer(await c.call_tool("add_contact", {"name": "Dora Partner", "email": "Dora@Partner.test",
                                                                      "tags": ["vip"]}))
            out["found"] = answer(await c.call_tool("search_contacts", {"query": "DORA"}))
            out["all_contacts"] = answer(await c.call_tool("search_contacts", {}))
            out["contacts_in_store"] = admin.ok("GET", "search_contacts", mailbox=box)
            out["deleted_contact"] = answer(await c.call_tool("delete_contact", {"contact_id": out["contact"]["id"]}))
            out["contacts_after"] = admin.ok("GET", "search_contacts", mailbox=box)

            out["inbox_by_subject"] = answer(await c.call_tool("check_inbox", {"subject_contains": "spam tools",
                                                                              "direction": "inbound"}))
            out["reported"] = answer(await c.call_tool("report_spam", {"email_id": incoming["message_id"]}))
            out["spam"] = answer(await c.call_tool("list_spam", {"limit": 10}))
            out["inbox_while_spam"] = admin.ok("GET", "check_inbox", mailbox=box)
            out["its_inbox_while_spam"] = answer(await c.call_tool("check_inbox", {"limit": 100}))
            out["its_quarantine"] = answer(await c.call_tool("check_inbox", {"status": "unread"}))
            out["released"] = answer(await c.call_tool("not_spam", {"email_id": incoming["message_id"]}))
            out["spam_after"] = answer(await c.call_tool("list_spam", {}))
            out["inbox_after"] = admin.ok("GET", "check_inbox", mailbox=box)
            out["missing"] = refusal(await c.call_tool("report_spam", {"email_id": "msg_doesnotexist"}))
        async with hosted_mcp(hosted_mcp_server, server.base, human.key, box) as o:
            out["removed"] = answer(await o.call_tool("remove_suppression", {"email_address": "KIM@XN--bcher-kva.TEST"}))
        return out

    out = anyio.run(main)

    assert {"schedule_email", "edit_scheduled_email", "check_inbox", "cancel_message", "add_contact", "search_contacts",
            "delete_contact", "check_suppression", "remove_suppression", "report_spam", "not_spam", "list_spam"} <= out["tools"]

    # Scheduled send with oversight: held for approval, listed as scheduled once approved.
    scheduled = out["scheduled"]
    assert scheduled["status"] == "pending_send_approval" and parse_time(scheduled["send_at"]) > parse_time(ahead(500))
    assert out["pending_before"] == [scheduled["id"]]
    assert [(e["id"], e["status"]) for e in out["listed_scheduled"]["emails"]] == [(scheduled["id"], "scheduled")]
    # Bad times: refused with the status the hosted server reports (our codes are in the body).
    assert out["past"].startswith("API error 400") and out["far"].startswith("API error 400")
    assert out["not_iso"].startswith("API error 400")
    # Recipients are locked after approval (409) and nothing changed; another edit puts it back.
    assert out["locked"].startswith("API error 409")
    assert (out["after_locked"]["to"], out["after_locked"]["approval_status"]) == ([REMOTE], "approved")
    assert out["moved"]["status"] == "pending_send_approval"
    assert (out["after_move"]["status"], out["after_move"]["subject"]) == ("pending", "Hosted MCP, moved")
    assert out["cancelled"]["status"] == "cancelled"
    assert admin.ok("GET", "read_email", message_id=scheduled["id"])["status"] == "cancelled"
    assert out["stored_before"] == out["stored_after_bad_times"] == out["stored_after_suppressed"], "a refused send was stored"

    # Suppression: another case, the A-label and a +tag of the listed address are all refused.
    assert out["suppressed_send"].startswith("API error 409") and out["suppressed_tag"].startswith("API error 409")
    [entry] = out["suppression"]["suppressions"]
    assert (entry["email_address"], entry["reason"], entry["detail"]) == ("kim@xn--bcher-kva.test", "manual", "asked us to stop")
    assert out["agent_remove"].startswith("API key lacks required scope")
    assert (out["removed"]["email_address"], out["removed"]["removed"]) == ("kim@xn--bcher-kva.test", 1)
    assert admin.ok("GET", "list_suppressions", mailbox=box)["suppressions"] == []

    # Contacts: the hosted shape, found in any case, stored in this mailbox's book, deleted.
    contact = out["contact"]
    assert (contact["email"], contact["name"], contact["tags"]) == ("Dora@partner.test", "Dora Partner", ["vip"])
    assert [c["id"] for c in out["found"]["contacts"]] == [contact["id"]] == [c["id"] for c in out["all_contacts"]["contacts"]]
    assert [c["email"] for c in out["contacts_in_store"]["contacts"]] == ["Dora@partner.test"]
    assert out["contacts_after"]["contacts"] == []

    # Spam: report quarantines (check_inbox leaves it out), not_spam puts it back.
    assert [e["id"] for e in out["inbox_by_subject"]["emails"]] == [incoming["message_id"]]
    assert out["reported"] == {"id": incoming["message_id"], "status": "spam_quarantined", "user_label": "spam"}
    assert [e["id"] for e in out["spam"]["emails"]] == [incoming["message_id"]]
    assert incoming["message_id"] not in [m["message_id"] for m in out["inbox_while_spam"]["messages"]]
    assert incoming["message_id"] not in [e["id"] for e in out["its_inbox_while_spam"]["emails"]]  # its check_inbox too
    assert incoming["message_id"] not in [e["id"] for e in out["its_quarantine"]["emails"]]
    assert out["released"] == {"id": incoming["message_id"], "status": "unread", "user_label": "not_spam"}
    assert out["spam_after"]["emails"] == []
    assert incoming["message_id"] in [m["message_id"] for m in out["inbox_after"]["messages"]]
    assert out["missing"].startswith("API error 404")
    find_in_inbox(admin, box, "For the spam tools")
