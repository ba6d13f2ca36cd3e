"""Keys, roles and tenancy over HTTP: 401 for no/unknown/revoked keys, 403 for roles, 404 (never
403) for anything of a mailbox outside the key's scope."""

import base64

import pytest
import requests

from .helpers import all_audit, assert_error, new_address, snapshot, wait_status


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "mm_live_abc", "Bearer mm_live_unknown",
                                    "Bearer not-even-a-key", "Token mm_live_abc"])
def test_missing_unknown_or_malformed_authorization_is_401(server, header):
    headers = {} if header is None else {"Authorization": header}
    for method, verb, kw in (("GET", "list_mailboxes", {}), ("POST", "send_email", {"json": {}}), ("GET", "check_inbox", {"params": {"mailbox": "a@b.test"}})):
        r = requests.request(method, f"{server.base}/v1/{verb}", headers=headers, timeout=10, **kw)
        assert_error(r, 401)


def test_create_list_revoke_api_key(server, admin, mailbox):
    box = mailbox()
    created = admin.ok("POST", "create_api_key", {"role": "agent", "mailboxes": [box], "name": "flow key"})
    secret = created["api_key"]
    assert secret.startswith("mm_live_") and len(secret) > 30
    assert created["role"] == "agent" and created["scopes"] == ["read", "send"] and created["mailboxes"] == [box]
    listed = {k["key_id"]: k for k in admin.ok("GET", "list_api_keys")["keys"]}
    assert listed[created["key_id"]]["name"] == "flow key"
    assert secret not in str(listed)  # only a hash is stored; the secret is shown once
    H = {"Authorization": f"Bearer {secret}"}
    assert requests.get(f"{server.base}/v1/list_mailboxes", headers=H, timeout=10).status_code == 200
    revoked = admin.ok("POST", "revoke_api_key", {"key_id": created["key_id"]})
    assert revoked["revoked_at"]
    assert_error(requests.get(f"{server.base}/v1/list_mailboxes", headers=H, timeout=10), 401, "invalid_api_key")
    assert_error(requests.post(f"{server.base}/v1/send_email", headers=H, json={"from": box, "to": "a@b.test", "subject": "s", "body": "b"},
                               timeout=10), 401)
    assert_error(admin.post("revoke_api_key", {"key_id": "key_unknown"}), 404, "api_key_not_found")
    actions = [e["action"] for e in all_audit(admin, action="api_key.revoked")]
    assert actions


def test_create_key_by_scopes_and_roles(admin):
    approver = admin.ok("POST", "create_api_key", {"scopes": ["read", "oversight"]})
    assert approver["role"] == "approver"
    for role, scopes in (("agent", ["read", "send"]), ("approver", ["oversight", "read"]), ("admin", ["admin", "oversight", "read", "send"])):
        assert admin.ok("POST", "create_api_key", {"role": role})["scopes"] == scopes


def test_send_plus_oversight_without_admin_is_refused(admin):
    before = admin.ok("GET", "list_api_keys")["keys"]
    assert_error(admin.post("create_api_key", {"scopes": ["send", "oversight"]}), 400, "scope_conflict")
    assert_error(admin.post("create_api_key", {"scopes": ["read", "send", "oversight"]}), 400, "scope_conflict")
    assert_error(admin.post("create_api_key", {"scopes": ["fly"]}), 400, "invalid_scope")
    assert_error(admin.post("create_api_key", {"scopes": []}), 400)
    assert_error(admin.post("create_api_key", {"role": "superuser"}), 400)
    assert_error(admin.post("create_api_key", {"role": "agent", "scopes": ["read"]}), 400)
    assert_error(admin.post("create_api_key", {}), 400)
    assert_error(admin.post("create_api_key", {"role": "agent", "mailboxes": ["not an address"]}), 400, "invalid_address")
    # An empty mailbox list must not turn into "every mailbox".
    assert_error(admin.post("create_api_key", {"role": "agent", "mailboxes": []}), 400)
    assert admin.ok("GET", "list_api_keys")["keys"] == before


def test_non_admins_cannot_manage_keys_mailboxes_webhooks(admin, agent, approver, mailbox):
    box = mailbox()
    for key in (agent(box), approver(box)):
        before = admin.ok("GET", "list_api_keys")["keys"]
        assert_error(key.post("create_api_key", {"role": "admin"}), 403, "insufficient_scope")
        assert_error(key.post("create_api_key", {"role": "agent", "mailboxes": [box]}), 403, "insufficient_scope")
        assert_error(key.get("list_api_keys"), 403, "insufficient_scope")
        assert_error(key.post("revoke_api_key", {"key_id": before[0]["key_id"]}), 403, "insufficient_scope")
        assert_error(key.post("create_webhook", {"url": "https://hooks.partner.test/x", "mailbox": box}), 403, "insufficient_scope")
        assert_error(key.get("list_webhooks"), 403, "insufficient_scope")
        assert_error(key.post("create_mailbox", {"address": new_address()}), 403, "insufficient_scope")
        assert admin.ok("GET", "list_api_keys")["keys"] == before


def test_scoped_admin_key_stays_in_its_scope(admin, make_key, mailbox):
    box, other = mailbox(), mailbox()
    scoped = make_key("admin", [box])
    assert [m["address"] for m in scoped.ok("GET", "list_mailboxes")["mailboxes"]] == [box]
    assert_error(scoped.post("create_api_key", {"role": "agent"}), 400, "mailbox_scope_exceeded")
    assert_error(scoped.post("create_api_key", {"role": "agent", "mailboxes": [other]}), 400, "mailbox_scope_exceeded")
    assert scoped.ok("POST", "create_api_key", {"role": "agent", "mailboxes": [box]})["mailboxes"] == [box]
    assert_error(scoped.post("update_mailbox", {"mailbox": other, "display_name": "x"}), 404, "mailbox_not_found")
    assert_error(scoped.post("delete_mailbox", {"mailbox": other}), 404, "mailbox_not_found")
    assert_error(scoped.post("create_mailbox", {"address": new_address()}), 403)


def test_other_tenants_ids_are_404_not_403(admin, agent, mailbox, inbound):
    mine, theirs = mailbox(oversight_mode="autonomous"), mailbox(oversight_mode="gated_send")
    their_msg = inbound(theirs, subject="Private")
    their_pending = admin.ok("POST", "send_email", {"from": theirs, "to": new_address(), "subject": "Held", "body": "x"})
    assert their_pending["status"] == "pending"
    blob = base64.b64encode(b"secret bytes").decode()
    with_file = admin.ok("POST", "send_email", {"from": theirs, "to": new_address(), "subject": "File", "body": "x",
                                                "attachments": [{"filename": "s.txt", "content_type": "text/plain", "content_base64": blob}]})
    att = admin.ok("GET", "read_email", message_id=with_file["message_id"])["attachments"][0]["attachment_id"]
    theirs_id = next(m["mailbox_id"] for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == theirs)
    key = agent(mine)
    before = snapshot(admin, theirs)

    for verb, params in (
        ("check_inbox", {"mailbox": theirs}),
        ("check_inbox", {"mailbox": theirs_id}),
        ("read_email", {"message_id": their_msg["message_id"]}),
        ("get_thread", {"thread_id": their_msg["thread_id"]}),
        ("get_thread", {"thread_id": their_pending["thread_id"]}),
        ("get_attachment", {"message_id": with_file["message_id"], "attachment_id": att}),
        ("list_pending", {"mailbox": theirs}),
        ("audit_log", {"mailbox": theirs}),
    ):
        err = assert_error(key.get(verb, **params), 404)
        assert err["code"].endswith("_not_found"), (verb, err)
    for verb, body in (
        ("send_email", {"from": theirs, "to": new_address(), "subject": "s", "body": "b"}),
        ("decide_email", {"from": theirs, "to": new_address(), "question": "q", "options": ["a", "b"]}),
        ("reply_email", {"message_id": their_msg["message_id"], "body": "b"}),
        ("tag_email", {"message_id": their_msg["message_id"], "tags": ["mine"]}),
        ("cancel_message", {"message_id": their_pending["message_id"]}),
    ):
        err = assert_error(key.post(verb, body), 404)
        assert err["code"].endswith("_not_found"), (verb, err)
    # Unknown ids answer exactly like other tenants' ids: nothing tells them apart.
    unknown = assert_error(key.get("read_email", message_id="msg_doesnotexist"), 404)
    known = assert_error(key.get("read_email", message_id=their_msg["message_id"]), 404)
    assert unknown["code"] == known["code"]
    assert unknown["message"].replace("msg_doesnotexist", "X") == known["message"].replace(their_msg["message_id"], "X")

    # Their mailbox never shows in any of our lists.
    assert [m["address"] for m in key.ok("GET", "list_mailboxes")["mailboxes"]] == [mine]
    assert their_pending["message_id"] not in [m["message_id"] for m in key.ok("GET", "list_pending")["messages"]]
    audit = all_audit(key)
    assert all(e["mailbox"] == mine for e in audit)
    assert theirs not in str(audit)
    assert all_audit(key, message_id=their_msg["message_id"]) == []
    assert snapshot(admin, theirs) == before
    assert admin.ok("GET", "read_email", message_id=their_pending["message_id"])["status"] == "pending"


def test_agent_sees_its_own_mailbox(admin, agent, mailbox, inbound):
    mine = mailbox(oversight_mode="autonomous")
    msg = inbound(mine)
    key = agent(mine)
    assert [m["message_id"] for m in key.ok("GET", "check_inbox", mailbox=mine)["messages"]] == [msg["message_id"]]
    assert key.ok("GET", "read_email", message_id=msg["message_id"])["message_id"] == msg["message_id"]
    reply = key.ok("POST", "reply_email", {"message_id": msg["message_id"], "body": "ack"})
    wait_status(admin, reply["message_id"])
    key_id = next(k["key_id"] for k in admin.ok("GET", "list_api_keys")["keys"] if key.key.startswith(k["prefix"]) and k["mailboxes"] == [mine])
    events = all_audit(key, message_id=reply["message_id"])
    assert [(e["action"], e["actor"], e["actor_role"]) for e in events if e["action"] == "message.reply"] == [("message.reply", key_id, "agent")]
    assert admin.ok("GET", "read_email", message_id=reply["message_id"])["metadata"] == {}


def test_agent_cannot_loosen_oversight(admin, agent, mailbox):
    box = mailbox(oversight_mode="gated_send")
    key = agent(box)
    assert_error(key.post("update_mailbox", {"mailbox": box, "oversight_mode": "autonomous", "min_oversight": "autonomous"}), 403)
    assert_error(key.post("send_email", {"from": box, "to": new_address(), "subject": "s", "body": "b", "oversight_mode": "autonomous"}),
                 403, "oversight_override_forbidden")
    assert next(m for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == box)["oversight_mode"] == "gated_send"
