"""Webhook subscriptions, the audit log, /health and /openapi.json over HTTP."""

from datetime import UTC, datetime, timedelta, timezone

import requests

from .helpers import all_audit, assert_error, new_address, wait_status


def test_health_needs_no_key(server):
    r = requests.get(f"{server.base}/health", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_webhooks_create_list_delete(admin, mailbox):
    box = mailbox()
    created = admin.ok("POST", "create_webhook", {"url": "https://hooks.partner.test/mm", "events": ["message.received", "message.sent"],
                                                  "mailbox": box})
    assert created["webhook_id"] and created["secret"]
    assert created["mailbox"] == box and created["events"] == ["message.received", "message.sent"]
    everything = admin.ok("POST", "create_webhook", {"url": "http://127.0.0.1:9/all"})
    assert everything["events"] is None and everything["mailbox"] is None
    listed = {w["webhook_id"]: w for w in admin.ok("GET", "list_webhooks")["webhooks"]}
    assert listed[created["webhook_id"]]["url"] == "https://hooks.partner.test/mm"
    assert "secret" not in listed[created["webhook_id"]]  # shown once, at creation
    assert admin.ok("POST", "delete_webhook", {"webhook_id": created["webhook_id"]})["deleted"] is True
    assert created["webhook_id"] not in {w["webhook_id"] for w in admin.ok("GET", "list_webhooks")["webhooks"]}
    assert_error(admin.post("delete_webhook", {"webhook_id": created["webhook_id"]}), 404, "webhook_not_found")
    admin.ok("POST", "delete_webhook", {"webhook_id": everything["webhook_id"]})
    actions = [e["action"] for e in all_audit(admin, mailbox=box)]
    assert "webhook.created" in actions and "webhook.deleted" in actions


def test_webhook_refusals_change_nothing(admin, make_key, mailbox):
    box, other = mailbox(), mailbox()
    before = admin.ok("GET", "list_webhooks")["webhooks"]
    for body, status in (
        ({"url": "ftp://hooks.partner.test/x"}, 400),
        ({"url": "not a url"}, 400),
        ({"url": "https://hooks.partner.test/a\r\nX-Evil: 1"}, 400),
        ({"url": "https://hooks.partner.test/x", "events": ["message.exploded"]}, 400),
        ({"url": "https://hooks.partner.test/x", "events": []}, 400),
        ({"url": "https://hooks.partner.test/x", "events": "message.sent"}, 400),
        ({"url": "https://hooks.partner.test/x", "mailbox": new_address()}, 404),
        ({"events": ["message.sent"]}, 400),
    ):
        assert_error(admin.post("create_webhook", body), status)
    assert admin.ok("GET", "list_webhooks")["webhooks"] == before
    # A key scoped to one mailbox sees and manages only that mailbox's webhooks.
    hook = admin.ok("POST", "create_webhook", {"url": "https://hooks.partner.test/other", "mailbox": other})
    scoped = make_key("admin", [box])
    assert hook["webhook_id"] not in {w["webhook_id"] for w in scoped.ok("GET", "list_webhooks")["webhooks"]}
    assert_error(scoped.post("delete_webhook", {"webhook_id": hook["webhook_id"]}), 404, "webhook_not_found")
    assert_error(scoped.post("create_webhook", {"url": "https://hooks.partner.test/x", "mailbox": other}), 404)
    assert_error(scoped.post("create_webhook", {"url": "https://hooks.partner.test/x"}), 400)
    mine = scoped.ok("POST", "create_webhook", {"url": "https://hooks.partner.test/mine", "mailbox": box})
    assert [w["webhook_id"] for w in scoped.ok("GET", "list_webhooks")["webhooks"]] == [mine["webhook_id"]]
    admin.ok("POST", "delete_webhook", {"webhook_id": hook["webhook_id"]})


def test_audit_log_records_actor_mode_and_status(admin, agent, approver, mailbox):
    box = mailbox()
    key = agent(box)
    sent = key.ok("POST", "send_email", {"from": box, "to": new_address(), "subject": "Audited", "body": "x"})
    approver(box).ok("POST", "approve_message", {"message_id": sent["message_id"]})
    wait_status(admin, sent["message_id"])
    events = all_audit(admin, message_id=sent["message_id"])
    assert [e["action"] for e in events] == ["message.sent", "message.approved", "message.send"]  # newest first
    queued = events[-1]
    assert queued["actor_role"] == "agent" and queued["actor"].startswith("key_")
    assert queued["mailbox"] == box and queued["oversight_mode"] == "gated_send" and queued["approval_status"] == "pending"
    assert queued["details"]["subject"] == "Audited" and queued["at"]
    assert events[1]["actor_role"] == "approver" and events[1]["approval_status"] == "approved"
    assert events[0]["actor_role"] == "system"


def test_audit_log_filters_and_cursor(admin, mailbox):
    box = mailbox()
    start = datetime.now(UTC) - timedelta(seconds=1)
    ids = [admin.ok("POST", "send_email", {"from": box, "to": new_address(), "subject": f"n{i}", "body": "x"})["message_id"] for i in range(5)]
    admin.ok("POST", "tag_email", {"message_id": ids[0], "tags": ["x"]})
    everything = all_audit(admin, mailbox=box)
    assert [e["action"] for e in everything] == ["message.tagged"] + ["message.send"] * 5 + ["mailbox.created"]
    assert [e["message_id"] for e in everything[1:6]] == ids[::-1]
    assert [e["action"] for e in all_audit(admin, mailbox=box, action="message.tagged")] == ["message.tagged"]
    assert [e["message_id"] for e in all_audit(admin, mailbox=box, action="message.send")] == ids[::-1]
    assert {e["action"] for e in all_audit(admin, message_id=ids[0])} == {"message.send", "message.tagged"}
    assert all_audit(admin, mailbox=box, since=(datetime.now(UTC) + timedelta(minutes=5)).isoformat()) == []
    assert len(all_audit(admin, mailbox=box, since=start.isoformat())) == len(everything)
    # The cursor walks the same events, newest first, without repeats, however small the pages.
    seen, cursor = [], None
    while True:
        page = admin.ok("GET", "audit_log", mailbox=box, limit=2, **({"cursor": cursor} if cursor else {}))
        assert len(page["events"]) <= 2
        seen += [e["event_id"] for e in page["events"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [e["event_id"] for e in everything]
    assert_error(admin.get("audit_log", cursor="garbage!"), 400, "invalid_cursor")
    assert_error(admin.get("audit_log", limit=0), 400)
    assert_error(admin.get("audit_log", since="not a time"), 400)
    assert_error(admin.get("audit_log", mailbox="nobody-here@acme.test"), 404)


def test_audit_log_is_scoped_to_the_keys_mailboxes(admin, agent, mailbox):
    mine, theirs = mailbox(), mailbox()
    admin.ok("POST", "send_email", {"from": theirs, "to": new_address(), "subject": "theirs", "body": "x"})
    admin.ok("POST", "send_email", {"from": mine, "to": new_address(), "subject": "mine", "body": "x"})
    key = agent(mine)
    events = all_audit(key)
    assert events and {e["mailbox"] for e in events} == {mine}
    # Key management and other global events are for admins only.
    assert not [e for e in events if e["action"].startswith("api_key.")]


def test_openapi_lists_every_route_with_errors(server):
    doc = requests.get(f"{server.base}/openapi.json", timeout=10).json()
    paths = doc["paths"]
    expected = {
        "/v1/create_mailbox": "post", "/v1/list_mailboxes": "get", "/v1/update_mailbox": "post", "/v1/delete_mailbox": "post",
        "/v1/send_email": "post", "/v1/reply_email": "post", "/v1/decide_email": "post",
        "/v1/check_inbox": "get", "/v1/read_email": "get", "/v1/tag_email": "post", "/v1/get_thread": "get",
        "/v1/get_attachment": "get",
        "/v1/list_pending": "get", "/v1/approve_message": "post", "/v1/reject_message": "post", "/v1/cancel_message": "post",
        "/v1/audit_log": "get", "/v1/create_webhook": "post", "/v1/list_webhooks": "get", "/v1/delete_webhook": "post",
        "/v1/create_api_key": "post", "/v1/list_api_keys": "get", "/v1/revoke_api_key": "post",
    }
    v1 = {p for p in paths if p.startswith("/v1/")}
    assert set(expected) <= v1, set(expected) - v1
    for path, method in expected.items():
        assert paths[path][method].get("operationId") == path.rsplit("/", 1)[1]
    # Every /v1 operation documents its errors, in the one error shape.
    for path in sorted(v1):
        for method, op in paths[path].items():
            responses = op["responses"]
            assert "200" in responses or "201" in responses or "202" in responses, (path, method)
            assert "400" in responses, (path, method)
            if path != "/v1/verify_message":  # the one /v1 route that needs no API key
                assert "401" in responses, (path, method)
            if method in ("post", "put", "patch"):
                assert {"413", "415"} <= set(responses), (path, method)
            for status, spec in responses.items():
                if status.startswith(("4", "5")):
                    schema = spec["content"]["application/json"]["schema"]
                    assert schema.get("$ref", "").endswith("/ErrorBody"), (path, method, status)
    # Sending can be refused by oversight and by idempotency.
    assert {"403", "404", "409"} <= set(paths["/v1/send_email"]["post"]["responses"])
    assert "/health" in paths
