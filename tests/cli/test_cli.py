"""The `multimail` command against the same data as a running server."""

import json
import subprocess
import sys
import time

import pytest

from tests.conftest import Api, ServerProcess, unique_address, wait_for


def mm(*args: str, data_dir, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "multimail_server.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("cli"), smtp=False)
    yield srv
    srv.stop()


def test_keys_create_prints_the_key_alone_on_the_last_line_while_serving(live):
    address = unique_address("cli")
    Api(live.base, live.admin_key).ok("POST", "create_mailbox", {"address": address})
    out = mm("keys", "create", "--role", "agent", "--mailbox", address, "--name", "flows", data_dir=live.data_dir)
    key = out.stdout.strip().splitlines()[-1]
    assert key.startswith("mm_live_") and " " not in key
    agent = Api(live.base, key)
    assert [m["address"] for m in agent.ok("GET", "list_mailboxes")["mailboxes"]] == [address]
    # The agent key really is an agent key: it cannot approve.
    r = agent.post("approve_message", {"message_id": "msg_x"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"


def test_keys_create_refuses_unknown_role_without_creating_anything(live):
    before = mm("keys", "list", "--json", data_dir=live.data_dir).stdout
    bad = mm("keys", "create", "--role", "superuser", data_dir=live.data_dir, check=False)
    assert bad.returncode == 1 and "invalid_role" in bad.stderr
    assert mm("keys", "list", "--json", data_dir=live.data_dir).stdout == before


def test_keys_revoke_takes_effect_on_the_running_server(live):
    key = mm("keys", "create", "--role", "approver", data_dir=live.data_dir).stdout.strip().splitlines()[-1]
    api = Api(live.base, key)
    assert api.get("list_pending").status_code == 200
    keys = json.loads(mm("keys", "list", "--json", data_dir=live.data_dir).stdout)
    key_id = next(k["key_id"] for k in keys if k["prefix"] == key[: len(k["prefix"])] and k["role"] == "approver" and not k["revoked_at"])
    mm("keys", "revoke", key_id, data_dir=live.data_dir)
    r = api.get("list_pending")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


def test_mailboxes_pending_approve_reject(live):
    address = unique_address("gate")
    out = mm("mailboxes", "create", address, "--oversight", "gated_all", data_dir=live.data_dir)
    assert address in out.stdout
    listed = json.loads(mm("mailboxes", "list", "--json", data_dir=live.data_dir).stdout)
    assert any(m["address"] == address and m["oversight_mode"] == "gated_all" for m in listed)
    admin = Api(live.base, live.admin_key)
    first = admin.ok("POST", "send_email", {"from": address, "to": "x@partner.test", "subject": "one", "body": "1"})
    second = admin.ok("POST", "send_email", {"from": address, "to": "x@partner.test", "subject": "two", "body": "2"})
    pending = json.loads(mm("pending", "--mailbox", address, "--json", data_dir=live.data_dir).stdout)
    assert {p["message_id"]: p["status"] for p in pending} == {first["message_id"]: "pending", second["message_id"]: "pending"}
    mm("approve", first["message_id"], "--note", "ok", data_dir=live.data_dir)
    mm("reject", second["message_id"], "--reason", "no", data_dir=live.data_dir)
    again = mm("approve", second["message_id"], data_dir=live.data_dir, check=False)
    assert again.returncode == 1 and "invalid_state" in again.stderr
    statuses = {m["message_id"]: (m["status"], m["decided_by"]) for m in admin.ok("GET", "list_pending", mailbox=address)["messages"]}
    assert statuses == {first["message_id"]: ("approved", "cli"), second["message_id"]: ("rejected", "cli")}


def test_pending_shows_reply_to_attachments_and_the_content_hash(live):
    """An approver at a terminal sees what will leave (reply-to, attachments) and the version an
    approval is bound to; `approve --content-hash` refuses a message changed since."""
    import base64

    address = unique_address("review")
    mm("mailboxes", "create", address, "--oversight", "gated_all", data_dir=live.data_dir)
    admin = Api(live.base, live.admin_key)
    sent = admin.ok("POST", "send_email", {
        "from": address, "to": "x@partner.test", "reply_to": "elsewhere@other.test", "subject": "Offer", "body": "1",
        "html": '<p>Hi</p><img src="https://tracker.other.test/p.gif">',
        "attachments": [{"filename": "terms.pdf", "content_type": "application/pdf",
                         "content_base64": base64.b64encode(b"12345").decode()}]})
    [item] = json.loads(mm("pending", "--mailbox", address, "--json", data_dir=live.data_dir).stdout)
    shown = mm("pending", "--mailbox", address, data_dir=live.data_dir).stdout
    assert sent["message_id"] in shown and "reply-to: elsewhere@other.test" in shown
    assert "attachment: terms.pdf (application/pdf, 5 bytes)" in shown
    assert f"content_hash: {item['content_hash']}" in shown and len(item["content_hash"]) == 64
    assert "held because: gated_all" in shown and "1 remote reference" in shown and "tracker" not in item["html"]
    # Edited since it was shown: the stale hash is refused and the message stays held.
    admin.ok("POST", "edit_message", {"message_id": sent["message_id"], "subject": "Offer (edited)"})
    stale = mm("approve", sent["message_id"], "--content-hash", item["content_hash"], data_dir=live.data_dir, check=False)
    assert stale.returncode == 1 and "content_changed" in stale.stderr
    [again] = json.loads(mm("pending", "--mailbox", address, "--json", data_dir=live.data_dir).stdout)
    assert again["status"] == "pending" and again["content_hash"] != item["content_hash"]
    ok = mm("approve", sent["message_id"], "--content-hash", again["content_hash"], data_dir=live.data_dir)
    assert again["content_hash"] in ok.stdout
    events = admin.ok("GET", "audit_log", mailbox=address, action="message.approved")["events"]
    assert [e["details"]["content_hash"] for e in events] == [again["content_hash"]]


def test_mailboxes_create_refuses_bad_mode(live):
    bad = mm("mailboxes", "create", unique_address(), "--oversight", "yolo", data_dir=live.data_dir, check=False)
    assert bad.returncode == 1 and "invalid_oversight_mode" in bad.stderr


def test_serve_prints_first_admin_key_once(tmp_path):
    first = ServerProcess(tmp_path / "d", smtp=False)
    first.stop()
    assert first.admin_key and first.log().count("mm_live_") == 1
    second = ServerProcess(tmp_path / "d", smtp=False)
    try:
        assert "mm_live_" not in second.log()
        assert Api(second.base, first.admin_key).get("list_mailboxes").status_code == 200
    finally:
        second.stop()


def test_mailboxes_policy_and_the_kill_switch(live):
    address = unique_address("policy")
    mm("mailboxes", "create", address, "--oversight", "autonomous", "--approver", "boss@partner.test", data_dir=live.data_dir)
    out = json.loads(mm("mailboxes", "policy", address, "--approvals-required", "2", "--approver", "boss@partner.test",
                        "--approver", "cfo@partner.test", "--timeout", "600", "--json", data_dir=live.data_dir).stdout)
    assert out["approvers"] == ["boss@partner.test", "cfo@partner.test"] and out["approvals_required"] == 2
    assert out["approval_timeout"] == 600 and out["on_timeout"] == "reject"
    refused = mm("mailboxes", "policy", address, "--on-timeout", "approve", data_dir=live.data_dir, check=False)
    assert refused.returncode == 1 and "approve_on_timeout_not_allowed" in refused.stderr
    admin = Api(live.base, live.admin_key)
    paused = mm("pause", "--mailbox", address, "--reason", "incident", data_dir=live.data_dir)
    assert address in paused.stdout and "incident" in paused.stdout
    sent = admin.ok("POST", "send_email", {"from": address, "to": "x@partner.test", "subject": "held back", "body": "1"})
    time.sleep(2.5)  # two delivery passes
    assert admin.ok("GET", "read_email", message_id=sent["message_id"])["status"] == "queued"
    assert "nothing is paused" in mm("resume", "--mailbox", address, data_dir=live.data_dir).stdout
    wait_for(lambda: admin.ok("GET", "read_email", message_id=sent["message_id"])["status"] == "sent")
    actions = [e["action"] for e in admin.ok("GET", "audit_log", mailbox=address)["events"]]
    assert "outbound.paused" in actions and "outbound.resumed" in actions
