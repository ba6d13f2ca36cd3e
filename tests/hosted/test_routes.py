"""The hosted API's resource routes, driven with plain `requests` in the request shapes of the hosted
OpenAPI document, its MCP server and its Python SDK, against a real server (SQLite and PostgreSQL):
what each answers, bad input (a clear error, nothing changed), scope (an agent key cannot decide and
sees no other mailbox), and one id per message in both dialects."""

from __future__ import annotations

import base64
import secrets

import pytest
import requests

from tests.api.helpers import assert_error, new_address, wait_status
from tests.conftest import wait_for


def _box(hosted, mode: str = "gated_send") -> dict:
    return hosted().ok("POST", "/v1/mailboxes", {"address_local": new_address("hb"), "display_name": "Hosted Bot",
                                                 "oversight_mode": mode}, expect=201)


# --- mailboxes ----------------------------------------------------------------------------------


def test_mailbox_lifecycle_and_both_ids(hosted, admin):
    h = hosted()
    box = _box(hosted)
    assert box["id"].startswith("mbx_") and box["oversight_mode"] == "gated_send" and box["display_name"] == "Hosted Bot"
    assert isinstance(box["created_at"], int) and box["is_active"] == 1
    listed = h.ok("GET", "/v1/mailboxes")["mailboxes"]
    assert box["id"] in [m["id"] for m in listed]
    # The mailbox's id and its address name the same mailbox, in both dialects.
    assert h.ok("GET", f"/v1/mailboxes/{box['id']}") == h.ok("GET", f"/v1/mailboxes/{box['address']}")
    assert box["id"] in [m["mailbox_id"] for m in admin.ok("GET", "list_mailboxes")["mailboxes"]]

    assert h.ok("PATCH", f"/v1/mailboxes/{box['address']}", {"display_name": "Renamed", "oversight_mode": "gated_all"}) == \
        {"id": box["id"], "status": "updated"}
    got = h.ok("GET", f"/v1/mailboxes/{box['id']}")
    assert (got["display_name"], got["oversight_mode"]) == ("Renamed", "gated_all")
    # the hosted MCP server's configure_mailbox
    assert h.ok("PATCH", f"/v1/mailboxes/{box['id']}/configure",
                {"display_name": "Configured", "default_gate_timing": "gate_first", "mcp_configured": 1})["status"] == "updated"
    assert h.ok("GET", f"/v1/mailboxes/{box['id']}")["display_name"] == "Configured"

    assert h.ok("DELETE", f"/v1/mailboxes/{box['id']}") == {"id": box["id"], "status": "deleted"}
    assert_error(h.call("GET", f"/v1/mailboxes/{box['id']}"), 404, "mailbox_not_found")


def test_configure_scheduling_enabled_as_the_hosted_mcp_server_sends_it(hosted):
    """The hosted MCP server's configure_mailbox sends `scheduling_enabled` as 1 or 0 beside
    `mcp_configured: 1` (its src/index.ts: `body.scheduling_enabled = params.scheduling_enabled ? 1 : 0`).
    Every mailbox here may schedule, so 1 changes nothing and is accepted; 0 asks to forbid scheduled
    send, which this server cannot do: a 501, and nothing changes (it used to answer "updated")."""
    h = hosted()
    box = _box(hosted)
    path = f"/v1/mailboxes/{box['id']}/configure"
    assert h.ok("PATCH", path, {"scheduling_enabled": 1, "mcp_configured": 1}) == {"id": box["id"], "status": "updated"}
    for off in ({"scheduling_enabled": 0, "mcp_configured": 1},
                {"display_name": "Changed", "default_gate_timing": "schedule_first", "scheduling_enabled": 0, "mcp_configured": 1}):
        err = assert_error(h.call("PATCH", path, off), 501, "not_implemented")
        assert err["details"]["field"] == "scheduling_enabled"
    # The hosted SDK's update_mailbox sends a boolean.
    err = assert_error(h.call("PATCH", f"/v1/mailboxes/{box['id']}", {"scheduling_enabled": False}), 501, "not_implemented")
    assert err["details"]["field"] == "scheduling_enabled"
    got = h.ok("GET", f"/v1/mailboxes/{box['id']}")
    assert (got["display_name"], got["default_gate_timing"], got["scheduling_enabled"]) == ("Hosted Bot", "gate_first", 1)


def test_mailbox_bad_input_changes_nothing(hosted, hosted_key):
    h = hosted()
    box = _box(hosted)
    before = h.ok("GET", "/v1/mailboxes")["mailboxes"]
    assert_error(h.call("POST", "/v1/mailboxes", {"display_name": "no address"}), 400, "missing_field")
    assert_error(h.call("POST", "/v1/mailboxes", {"address_local": box["address"]}), 409, "mailbox_exists")
    assert_error(h.call("POST", "/v1/mailboxes", {"address_local": "x@y.test", "colour": "red"}), 400, "unknown_field")
    assert_error(h.call("POST", "/v1/mailboxes", {"address_local": "x@y.test", "oversight_mode": "yolo"}), 400)
    assert_error(h.call("POST", "/v1/mailboxes", {"address_local": "x@y.test", "webhook_url": "https://h.test/"}),
                 501, "not_implemented")
    assert h.ok("GET", "/v1/mailboxes")["mailboxes"] == before
    # A field this server lacks, given a value, is a 501 and nothing changes (not even the other fields).
    err = assert_error(h.call("PATCH", f"/v1/mailboxes/{box['id']}", {"display_name": "New", "auto_cc": "cc@x.test"}),
                       501, "not_implemented")
    assert err["details"]["field"] == "auto_cc"
    assert h.ok("GET", f"/v1/mailboxes/{box['id']}")["display_name"] == "Hosted Bot"
    # An agent key may not create, change or delete mailboxes, nor loosen its own oversight.
    agent = hosted(hosted_key("agent", box["address"]))
    assert_error(agent.call("POST", "/v1/mailboxes", {"address_local": new_address()}), 403)
    assert_error(agent.call("PATCH", f"/v1/mailboxes/{box['id']}", {"oversight_mode": "autonomous"}), 403)
    assert_error(agent.call("DELETE", f"/v1/mailboxes/{box['id']}"), 403)
    assert h.ok("GET", f"/v1/mailboxes/{box['id']}")["oversight_mode"] == "gated_send"


# --- sending, oversight and one id --------------------------------------------------------------


def test_gated_send_pending_decide_and_one_id(hosted, hosted_key, admin):
    box = _box(hosted)
    agent = hosted(hosted_key("agent", box["address"]))
    approver = hosted(hosted_key("approver", box["address"]))
    sent = agent.ok("POST", f"/v1/mailboxes/{box['id']}/send",
                    {"to": ["bob@example.test"], "subject": "Weekly report", "markdown": "Hi **Bob**,\n\n- one\n- two"}, expect=202)
    assert sent["status"] == "pending_send_approval" and sent["idempotent"] is False
    msg_id = sent["id"]
    # One id in both dialects: the verb routes know the message by the same id.
    verb = admin.ok("GET", "read_email", message_id=msg_id)
    assert verb["thread_id"] == sent["thread_id"] and verb["approval_status"] == "pending"
    assert "<strong>Bob</strong>" in verb["html"] and verb["body"].startswith("Hi **Bob**")

    pending = approver.ok("GET", "/v1/oversight/pending")
    assert pending["emails"] == pending["pending"]
    item = next(p for p in pending["emails"] if p["id"] == msg_id)
    assert item["mailbox_id"] == box["id"] and item["status"] == "pending_send_approval"
    assert item["body_markdown"].startswith("Hi **Bob**") and item["to"] == ["bob@example.test"]

    # An agent key never decides: 403, and the message stays held.
    assert_error(agent.call("POST", "/v1/oversight/decide", {"email_id": msg_id, "action": "approve"}), 403)
    assert admin.ok("GET", "read_email", message_id=msg_id)["approval_status"] == "pending"
    assert_error(approver.call("POST", "/v1/oversight/decide", {"email_id": msg_id, "action": "maybe"}), 400)
    assert_error(approver.call("POST", "/v1/oversight/decide", {"email_id": "msg_nope", "action": "approve"}), 404)
    assert_error(approver.call("POST", "/v1/oversight/decide", {"email_id": "", "action": "approve"}), 400, "invalid_field")

    assert approver.ok("POST", "/v1/oversight/decide", {"email_id": msg_id, "action": "approve", "reason": "fine"}) == \
        {"id": msg_id, "status": "approved"}
    assert_error(approver.call("POST", "/v1/oversight/decide", {"email_id": msg_id, "action": "reject"}), 409)
    wait_status(admin, msg_id, "sent")
    got = agent.ok("GET", f"/v1/mailboxes/{box['id']}/emails/{msg_id}")
    assert got["id"] == msg_id and got["status"] == "read" and got["delivered_at"] and got["approved_at"]
    assert got["direction"] == "outbound" and "<li>one</li>" in got["html"]


def test_reject_and_cancel(hosted, hosted_key, admin):
    box = _box(hosted)
    agent = hosted(hosted_key("agent", box["address"]))
    approver = hosted(hosted_key("approver", box["address"]))
    send = lambda subject: agent.ok("POST", f"/v1/mailboxes/{box['id']}/send",
                                    {"to": ["c@example.test"], "subject": subject, "markdown": subject}, expect=202)["id"]
    rejected = send("reject me")
    assert approver.ok("POST", "/v1/oversight/decide", {"email_id": rejected, "action": "reject"})["status"] == "rejected"
    assert admin.ok("GET", "read_email", message_id=rejected)["status"] == "rejected"

    cancelled = send("cancel me")
    path = f"/v1/mailboxes/{box['id']}/emails/{cancelled}/cancel"
    assert agent.ok("POST", path) == {"id": cancelled, "status": "cancelled"}
    assert agent.ok("POST", path) == {"id": cancelled, "status": "cancelled"}  # idempotent, as the hosted API says
    assert admin.ok("GET", "read_email", message_id=cancelled)["status"] == "cancelled"
    assert_error(agent.call("POST", f"/v1/mailboxes/{box['id']}/emails/{rejected}/cancel"), 409)
    statuses = {e["id"]: e["status"] for e in agent.ok("GET", f"/v1/mailboxes/{box['id']}/emails")["emails"]}
    assert (statuses[rejected], statuses[cancelled]) == ("rejected", "cancelled")


def test_idempotency_and_unsupported_send_fields(hosted, admin):
    h = hosted()
    box = _box(hosted, "autonomous")
    body = {"to": ["d@example.test"], "subject": "Once", "markdown": "only once", "idempotency_key": secrets.token_hex(8)}
    first = h.ok("POST", f"/v1/mailboxes/{box['id']}/send", body, expect=202)
    again = h.ok("POST", f"/v1/mailboxes/{box['id']}/send", body, expect=200)
    assert again["id"] == first["id"] and again["idempotent"] is True
    assert_error(h.call("POST", f"/v1/mailboxes/{box['id']}/send", {**body, "markdown": "other"}), 409)
    before = len(h.ok("GET", f"/v1/mailboxes/{box['id']}/emails", limit=100)["emails"])
    err = assert_error(h.call("POST", f"/v1/mailboxes/{box['id']}/send",
                              {"to": ["d@example.test"], "subject": "Later", "markdown": "x", "send_at": "2030-01-01T00:00:00Z"}),
                       400, "send_at_too_far")  # scheduled send: tests/scheduling
    assert err["details"]["field"] == "send_at"
    assert_error(h.call("POST", f"/v1/mailboxes/{box['id']}/send", {"to": "d@example.test", "subject": "S", "markdown": "x"}), 400)
    assert_error(h.call("POST", f"/v1/mailboxes/{box['id']}/send", {"to": ["d@example.test"], "subject": "S"}), 400, "missing_field")
    assert_error(h.call("POST", f"/v1/mailboxes/{box['id']}/send", {"to": ["not an address"], "subject": "S", "markdown": "x"}), 400)
    assert len(h.ok("GET", f"/v1/mailboxes/{box['id']}/emails", limit=100)["emails"]) == before


# --- reading ------------------------------------------------------------------------------------


def test_markdown_arrives_as_safe_html_and_text(hosted, mailbox, admin):
    h = hosted()
    sender = _box(hosted, "autonomous")
    to = mailbox(oversight_mode="autonomous")
    markdown = "# Title\n\n**bold** and [link](https://example.test/)\n\n<script>alert(1)</script><img src=x onerror=alert(2)>"
    sent = h.ok("POST", f"/v1/mailboxes/{sender['id']}/send", {"to": [to], "subject": "md", "markdown": markdown}, expect=202)
    wait_status(admin, sent["id"], "sent")
    got = wait_for(lambda: next(iter(h.ok("GET", f"/v1/mailboxes/{to}/emails", subject_contains="md")["emails"]), None))
    full = h.ok("GET", f"/v1/mailboxes/{to}/emails/{got['id']}")
    assert "<h1>Title</h1>" in full["html"] and "<strong>bold</strong>" in full["html"]
    assert "<script" not in full["html"] and "onerror" not in full["html"]
    assert full["markdown"].startswith("# Title") and "**bold**" in full["markdown"]


def test_list_filters_cursor_and_mark_read(hosted, mailbox, inbound):
    h = hosted()
    to = mailbox(oversight_mode="autonomous")
    subjects = [f"Filter {i} {secrets.token_hex(3)}" for i in range(3)]
    ids = [inbound(to, subject=s)["message_id"] for s in subjects]
    page = h.ok("GET", f"/v1/mailboxes/{to}/emails")
    assert [e["id"] for e in page["emails"]] == ids[::-1] and page["cursor"] is None
    first = page["emails"][0]
    assert first["status"] == "unread" and first["direction"] == "inbound" and first["has_attachments"] is False
    assert set(first) >= {"id", "from", "to", "subject", "received_at", "thread_id", "delivered_at", "bounced_at"}

    # cursor pagination, one at a time, newest first
    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = h.ok("GET", f"/v1/mailboxes/{to}/emails", **params)
        seen += [e["id"] for e in page["emails"]]
        cursor = page["cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]

    assert [e["id"] for e in h.ok("GET", f"/v1/mailboxes/{to}/emails", subject_contains=subjects[1].upper())["emails"]] == [ids[1]]
    assert [e["id"] for e in h.ok("GET", f"/v1/mailboxes/{to}/emails", since_id=ids[0])["emails"]] == ids[:0:-1]
    assert h.ok("GET", f"/v1/mailboxes/{to}/emails", direction="outbound")["emails"] == []
    assert h.ok("GET", f"/v1/mailboxes/{to}/emails", status="scheduled")["emails"] == []
    assert len(h.ok("GET", f"/v1/mailboxes/{to}/emails", sender="@")["emails"]) == 3

    # reading marks read (as the hosted API says), in both dialects
    h.ok("GET", f"/v1/mailboxes/{to}/emails/{ids[0]}")
    unread = [e["id"] for e in h.ok("GET", f"/v1/mailboxes/{to}/emails", status="unread")["emails"]]
    read = [e["id"] for e in h.ok("GET", f"/v1/mailboxes/{to}/emails", status="read")["emails"]]
    assert ids[0] in read and ids[0] not in unread and ids[1] in unread

    assert_error(h.call("GET", f"/v1/mailboxes/{to}/emails", cursor="garbage"), 400, "invalid_cursor")
    assert_error(h.call("GET", f"/v1/mailboxes/{to}/emails", since_id="msg_unknown"), 400, "invalid_field")
    assert_error(h.call("GET", f"/v1/mailboxes/{to}/emails", status="everything"), 400)
    assert_error(h.call("GET", f"/v1/mailboxes/{to}/emails", limit=0), 400)
    assert_error(h.call("GET", f"/v1/mailboxes/{to}/emails", date_after="yesterday"), 400, "invalid_field")
    # empty filters are no filters (the hosted document types them plain strings)
    assert len(h.ok("GET", f"/v1/mailboxes/{to}/emails", date_after="", since_id="", cursor="", sender="")["emails"]) == 3
    assert len(h.ok("GET", f"/v1/mailboxes/{to}/emails", date_after="2000-01-01T00:00:00Z")["emails"]) == 3
    assert h.ok("GET", f"/v1/mailboxes/{to}/emails", date_before="2000-01-01T00:00:00Z")["emails"] == []


def test_another_mailbox_is_not_visible(hosted, hosted_key, mailbox, inbound):
    mine, theirs = mailbox(oversight_mode="autonomous"), mailbox(oversight_mode="autonomous")
    their_msg = inbound(theirs)["message_id"]
    my_msg = inbound(mine)["message_id"]
    agent = hosted(hosted_key("agent", mine))
    assert [m["address"] for m in agent.ok("GET", "/v1/mailboxes")["mailboxes"]] == [mine]
    assert_error(agent.call("GET", f"/v1/mailboxes/{theirs}"), 404, "mailbox_not_found")
    assert_error(agent.call("GET", f"/v1/mailboxes/{theirs}/emails"), 404, "mailbox_not_found")
    assert_error(agent.call("GET", f"/v1/mailboxes/{mine}/emails/{their_msg}"), 404, "message_not_found")
    # a message of one's own mailbox named under another mailbox (even one the key may see) is unknown
    admin = hosted()
    assert_error(admin.call("GET", f"/v1/mailboxes/{theirs}/emails/{my_msg}"), 404, "message_not_found")
    assert_error(admin.call("PUT", f"/v1/mailboxes/{theirs}/emails/{my_msg}/tags", {"tags": {"a": "b"}}), 404)
    assert admin.ok("GET", f"/v1/mailboxes/{mine}/emails/{my_msg}/tags") == {"tags": {}}
    assert_error(agent.call("POST", f"/v1/mailboxes/{theirs}/send", {"to": ["x@example.test"], "subject": "s", "markdown": "m"}), 404)
    assert_error(agent.call("GET", "/v1/webhooks"), 403)
    assert_error(agent.call("GET", "/v1/api-keys"), 403)


def test_reply_thread_and_tags(hosted, mailbox, inbound, admin):
    h = hosted()
    to = mailbox(oversight_mode="autonomous")
    msg = inbound(to, subject="Question?")
    reply = h.ok("POST", f"/v1/mailboxes/{to}/reply/{msg['message_id']}", {"markdown": "Yes, *indeed*."}, expect=202)
    assert reply["thread_id"] == msg["thread_id"]
    verb = admin.ok("GET", "read_email", message_id=reply["id"])
    assert verb["in_reply_to"] and verb["subject"] == "Re: Question?" and "<em>indeed</em>" in verb["html"]
    thread = h.ok("GET", f"/v1/mailboxes/{to}/threads/{msg['thread_id']}")
    assert [e["id"] for e in thread["emails"]] == [msg["message_id"], reply["id"]]
    assert thread["message_count"] == 2 and thread["has_unanswered_inbound"] is False
    assert to in thread["participants"] and [e["direction"] for e in thread["emails"]] == ["inbound", "outbound"]
    assert_error(h.call("GET", f"/v1/mailboxes/{to}/threads/thr_nope"), 404, "thread_not_found")
    assert_error(h.call("POST", f"/v1/mailboxes/{to}/reply/msg_nope", {"markdown": "x"}), 404)

    tags = f"/v1/mailboxes/{to}/emails/{msg['message_id']}/tags"
    assert h.ok("PUT", tags, {"tags": {"priority": "high", "team": "ops"}}) == {"tags": {"priority": "high", "team": "ops"}}
    assert h.ok("PUT", tags, {"tags": {"priority": "low"}}) == {"tags": {"priority": "low"}}  # replaces every tag
    assert admin.ok("GET", "read_email", message_id=msg["message_id"])["tags"] == {"priority": "low"}  # one id
    assert h.ok("DELETE", f"{tags}/priority") == {"deleted": True}
    assert h.ok("DELETE", f"{tags}/priority") == {"deleted": False}
    assert h.ok("GET", tags) == {"tags": {}}
    assert_error(h.call("PUT", tags, {"tags": {"k": 1}}), 400)
    assert_error(h.call("PUT", tags, {"tags": ["a"]}), 400)
    assert h.ok("GET", tags) == {"tags": {}}


def test_attachments_by_name(hosted, mailbox, inbound):
    h = hosted()
    to = mailbox(oversight_mode="autonomous")
    content = b"%PDF-1.4 hosted test " + secrets.token_bytes(16)
    msg = inbound(to, attachments=[{"filename": "report.pdf", "content_type": "application/pdf",
                                    "content_base64": base64.b64encode(content).decode()}])
    got = h.ok("GET", f"/v1/mailboxes/{to}/emails/{msg['message_id']}")
    assert got["has_attachments"] is True
    assert got["attachments"] == [{"name": "report.pdf", "size": len(content), "content_type": "application/pdf"}]
    assert [e["has_attachments"] for e in h.ok("GET", f"/v1/mailboxes/{to}/emails", has_attachments="true")["emails"]] == [True]
    assert h.ok("GET", f"/v1/mailboxes/{to}/emails", has_attachments="false")["emails"] == []
    r = h.call("GET", f"/v1/mailboxes/{to}/emails/{msg['message_id']}/attachments/report.pdf")
    assert r.status_code == 200 and r.content == content and r.headers["content-disposition"].startswith("attachment")
    url = h.ok("GET", f"/v1/mailboxes/{to}/emails/{msg['message_id']}/attachments/report.pdf/url")
    assert url["size_bytes"] == len(content) and url["expires_in"] is None
    assert requests.get(url["url"], headers={"Authorization": f"Bearer {h.key}"}, timeout=10).content == content
    assert_error(h.call("GET", f"/v1/mailboxes/{to}/emails/{msg['message_id']}/attachments/other.pdf"), 404, "attachment_not_found")


# --- admin: webhooks, keys, audit, domains ------------------------------------------------------


def test_webhooks(hosted, hosted_key):
    h = hosted()
    box = _box(hosted)
    made = h.ok("POST", "/v1/webhooks", {"url": "https://hooks.example.test/mm", "mailbox_id": box["id"],
                                        "events": ["message.received", "oversight.pending", "message.bounced"]}, expect=201)
    assert made["signing_secret"].startswith("whsec_") and made["mailbox_id"] == box["id"]
    assert sorted(made["events"]) == ["message.bounced", "message.received", "oversight.pending"]
    listed = h.ok("GET", "/v1/webhooks")
    assert listed["subscriptions"] == listed["webhooks"]
    item = next(w for w in listed["webhooks"] if w["id"] == made["id"])
    assert "signing_secret" not in item
    assert h.ok("GET", f"/v1/webhooks/{made['id']}")["signing_secret"] == made["signing_secret"]
    complaints = h.ok("POST", "/v1/webhooks", {"url": "https://h.example.test/", "events": ["message.complained"]}, expect=201)
    assert complaints["events"] == ["message.complained"]  # ARF complaints (services/bounces.py)
    before = h.ok("GET", "/v1/webhooks")
    assert_error(h.call("POST", "/v1/webhooks", {"url": "https://h.example.test/", "events": ["nope"]}), 400)
    assert_error(h.call("POST", "/v1/webhooks", {"url": "ftp://h.example.test/", "events": ["message.sent"]}), 400)
    assert_error(h.call("POST", "/v1/webhooks", {"url": "https://h.example.test/", "events": ["message.sent"], "secret": "s"}), 501)
    assert h.ok("GET", "/v1/webhooks") == before
    assert_error(hosted(hosted_key("agent", box["address"])).call("POST", "/v1/webhooks",
                 {"url": "https://h.example.test/", "events": ["message.sent"]}), 403)
    assert h.ok("DELETE", f"/v1/webhooks/{made['id']}") == {"id": made["id"], "status": "deleted"}
    assert_error(h.call("GET", f"/v1/webhooks/{made['id']}"), 404)


def test_api_keys(hosted, server):
    h = hosted()
    assert_error(h.call("POST", "/v1/api-keys", {"name": "both", "scopes": ["send", "oversight"]}), 400, "scope_conflict")
    assert_error(h.call("POST", "/v1/api-keys", {"name": "bad", "scopes": ["root"]}), 400)
    made = h.ok("POST", "/v1/api-keys", {"name": "reader"}, expect=201)
    assert made["scopes"] == ["read"] and made["api_key"].startswith(made["prefix"])
    reader = hosted(made["api_key"])
    assert "mailboxes" in reader.ok("GET", "/v1/mailboxes")
    assert_error(reader.call("POST", "/v1/mailboxes", {"address_local": new_address()}), 403)
    info = next(k for k in h.ok("GET", "/v1/api-keys")["api_keys"] if k["id"] == made["id"])
    assert info["is_active"] is True and info["name"] == "reader" and "api_key" not in info
    assert h.ok("DELETE", f"/v1/api-keys/{made['id']}") == {"id": made["id"], "status": "revoked"}
    assert_error(reader.call("GET", "/v1/mailboxes"), 401)
    assert next(k for k in h.ok("GET", "/v1/api-keys")["api_keys"] if k["id"] == made["id"])["is_active"] is False
    assert_error(h.call("DELETE", "/v1/api-keys/key_nope"), 404)


def test_audit_log(hosted):
    h = hosted()
    box = _box(hosted)
    page = h.ok("GET", "/v1/audit-log", limit=2)
    assert len(page["entries"]) == 2 and page["cursor"]
    created = next(e for e in h.ok("GET", "/v1/audit-log", limit=100)["entries"]
                   if e["action"] == "mailbox.created" and e["resource_id"] == box["id"])
    assert created["resource_type"] == "mailbox" and created["actor_key_id"] and created["created_at"].endswith("Z")
    second = h.ok("GET", "/v1/audit-log", limit=2, cursor=page["cursor"])
    assert not {e["id"] for e in second["entries"]} & {e["id"] for e in page["entries"]}
    assert_error(h.call("GET", "/v1/audit-log", limit=1000), 400)


def test_domains(hosted):
    h = hosted()
    name = f"d{secrets.token_hex(4)}.example.test"
    made = h.ok("POST", "/v1/domains", {"domain": name}, expect=201)
    assert made["id"] == name and made["status"] == "pending" and made["dns_records"]["records"]
    assert name in [d["domain"] for d in h.ok("GET", "/v1/domains")["domains"]]
    assert h.ok("GET", f"/v1/domains/{name}")["domain"] == name
    assert_error(h.call("POST", "/v1/domains", {"domain": name}), 409)
    assert_error(h.call("POST", "/v1/domains", {"domain": "not a domain"}), 400)
    assert_error(h.call("POST", f"/v1/domains/{name}/verify"), 501, "not_implemented")
    assert_error(h.call("GET", "/v1/domains/not a domain"), 404, "domain_not_found")


# --- what is not served ---------------------------------------------------------------------------


@pytest.mark.parametrize("method,path,status,code,says", [
    ("GET", "/v1/account", 404, "hosted_only", "GET /v1/mailboxes"),
    ("POST", "/v1/account", 404, "hosted_only", "multimail keys create"),
    ("POST", "/v1/billing/checkout", 404, "hosted_only", "no billing"),
    ("GET", "/v1/usage", 404, "hosted_only", "/metrics"),
    ("GET", "/v1/unsubscribe/tok", 501, "not_implemented", "Unsubscribe"),
    ("POST", "/v1/mailboxes/mbx_x/request-upgrade", 501, "not_implemented", "PATCH /v1/mailboxes"),
])
def test_routes_not_served_say_why(hosted, method, path, status, code, says):
    err = assert_error(hosted().call(method, path, {} if method != "GET" else None), status, code)
    assert says in err["message"]
