"""The webhook verbs over real HTTP against the real server, with a real receiver on loopback."""

from __future__ import annotations

import time

import pytest
from standardwebhooks import Webhook

from tests.conftest import Api, ServerProcess


def wait_delivery(admin, webhook_id, predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        ds = admin.ok("GET", "list_webhook_deliveries", webhook_id=webhook_id)["deliveries"]
        if predicate(ds):
            return ds
        assert time.monotonic() < deadline, ds
        time.sleep(0.1)


def test_test_event_is_delivered_signed_and_listed_with_its_attempt(admin, receiver):
    hook = admin.ok("POST", "create_webhook", {"url": receiver.url, "events": ["webhook.test"], "description": "ops"})
    assert hook["secret"].startswith("whsec_") and hook["description"] == "ops"
    queued = admin.ok("POST", "test_webhook", {"webhook_id": hook["webhook_id"]})
    [d] = wait_delivery(admin, hook["webhook_id"], lambda ds: ds and ds[0]["status"] == "succeeded")
    assert d["delivery_id"] == queued["delivery_id"] and d["event_type"] == "webhook.test"
    assert [a["status_code"] for a in d["attempt_log"]] == [200] and d["attempt_log"][0]["response_body"] == "ok"
    [req] = receiver.requests
    event = Webhook(hook["secret"]).verify(req["body"], req["headers"])
    assert event["type"] == "webhook.test" and event["id"] == queued["event_id"] == req["headers"]["webhook-id"]


def test_mailbox_events_reach_a_mailbox_scoped_webhook_only_for_that_mailbox(admin, mailbox, receiver):
    mine, other = mailbox(oversight_mode="gated_send"), mailbox(oversight_mode="gated_send")
    hook = admin.ok("POST", "create_webhook", {"url": receiver.url, "mailbox": mine, "events": ["message.pending", "message.approved"]})
    sent = admin.ok("POST", "send_email", {"from": mine, "to": "ana@partner.test", "subject": "s", "body": "b"})
    admin.ok("POST", "send_email", {"from": other, "to": "ana@partner.test", "subject": "s", "body": "b"})
    admin.ok("POST", "approve_message", {"message_id": sent["message_id"]})
    ds = wait_delivery(admin, hook["webhook_id"], lambda ds: len(ds) == 2 and all(d["status"] == "succeeded" for d in ds))
    assert sorted(d["event_type"] for d in ds) == ["message.approved", "message.pending"]
    events = [Webhook(hook["secret"]).verify(r["body"], r["headers"]) for r in receiver.requests]
    assert {e["data"]["message_id"] for e in events} == {sent["message_id"]}


def test_rotation_signs_with_both_secrets_for_a_while(admin, receiver):
    hook = admin.ok("POST", "create_webhook", {"url": receiver.url, "events": ["webhook.test"]})
    rotated = admin.ok("POST", "rotate_webhook_secret", {"webhook_id": hook["webhook_id"]})
    assert rotated["secret"] != hook["secret"] and rotated["previous_secret_valid_until"]
    admin.ok("POST", "test_webhook", {"webhook_id": hook["webhook_id"]})
    wait_delivery(admin, hook["webhook_id"], lambda ds: ds and ds[0]["status"] == "succeeded")
    [req] = receiver.requests
    assert len(req["headers"]["webhook-signature"].split()) == 2
    Webhook(rotated["secret"]).verify(req["body"], req["headers"])
    Webhook(hook["secret"]).verify(req["body"], req["headers"])


def test_disabled_endpoint_gets_nothing_and_redeliver_sends_the_same_event_again(admin, receiver):
    hook = admin.ok("POST", "create_webhook", {"url": receiver.url, "events": ["webhook.test"]})
    first = admin.ok("POST", "test_webhook", {"webhook_id": hook["webhook_id"]})
    wait_delivery(admin, hook["webhook_id"], lambda ds: ds and ds[0]["status"] == "succeeded")
    off = admin.ok("POST", "update_webhook", {"webhook_id": hook["webhook_id"], "enabled": False})
    assert off["enabled"] is False and off["disabled_at"]
    admin.ok("POST", "test_webhook", {"webhook_id": hook["webhook_id"]})
    ds = wait_delivery(admin, hook["webhook_id"], lambda ds: len(ds) == 2 and ds[0]["status"] == "failed")
    assert "disabled" in ds[0]["last_error"] and len(receiver.requests) == 1
    admin.ok("POST", "update_webhook", {"webhook_id": hook["webhook_id"], "enabled": True})
    assert admin.ok("POST", "redeliver", {"delivery_id": first["delivery_id"]}) == {"redelivered": 1}
    wait_delivery(admin, hook["webhook_id"], lambda ds: len(receiver.requests) == 2)
    assert receiver.requests[1]["headers"]["webhook-id"] == receiver.requests[0]["headers"]["webhook-id"]
    assert receiver.requests[1]["body"] == receiver.requests[0]["body"]
    # A range: both finished deliveries (the failed one too) go out again.
    assert admin.ok("POST", "redeliver", {"webhook_id": hook["webhook_id"]}) == {"redelivered": 2}
    wait_delivery(admin, hook["webhook_id"], lambda ds: len(receiver.requests) == 4 and all(d["status"] == "succeeded" for d in ds))


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/",
    "http://[fe80::1]/hook",
    "http://0.0.0.0:8080/",
    "ftp://example.test/hook",
    "http://[fd00:ec2::254]/",
])
def test_receivers_that_reach_inside_are_refused_and_nothing_is_stored(admin, url):
    before = admin.ok("GET", "list_webhooks")["webhooks"]
    r = admin.post("create_webhook", {"url": url})
    assert r.status_code == 400 and r.json()["error"]["code"] in ("webhook_url_refused", "invalid_url"), r.text
    assert admin.ok("GET", "list_webhooks")["webhooks"] == before


def test_private_receivers_are_refused_unless_the_operator_allows_them(tmp_path):
    srv = ServerProcess(tmp_path / "d", smtp=False, env={"MULTIMAIL_WEBHOOK_ALLOW_PRIVATE": "false"})
    try:
        api = Api(srv.base, srv.admin_key)
        for url in ("http://127.0.0.1:9/hook", "http://10.0.0.8/hook", "http://192.168.1.1/", "http://localhost:9/"):
            r = api.post("create_webhook", {"url": url})
            assert r.status_code == 400 and r.json()["error"]["code"] == "webhook_url_refused", (url, r.text)
        hook = api.ok("POST", "create_webhook", {"url": "https://hooks.example.invalid/x"})  # not resolvable yet: checked per attempt
        assert hook["webhook_id"]
    finally:
        srv.stop()


def test_event_types_are_listed(admin):
    types = {t["type"]: t["description"] for t in admin.ok("GET", "list_event_types")["event_types"]}
    assert {"message.received", "message.approved", "decision.received", "webhook.disabled"} <= set(types)
    assert all(types.values())
    r = admin.post("create_webhook", {"url": "http://127.0.0.1:9/", "events": ["message.exploded"]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_event_type"
