"""`multimail_server.client.webhooks.verify`: a receiver checks a real server's signed delivery with
the SDK alone (stdlib HMAC), and refuses a changed body, another secret, and a replay."""

from __future__ import annotations

import json

import pytest

from multimail_server.client import webhooks
from tests.conftest import wait_for
from tests.webhooks.conftest import Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def test_a_real_delivery_verifies_and_a_tampered_one_does_not(admin, receiver):
    hook = admin.ok("POST", "create_webhook", {"url": receiver.url, "events": ["webhook.test"]})
    other = admin.ok("POST", "create_webhook", {"url": receiver.url + "/other", "events": ["webhook.test"]})
    admin.ok("POST", "test_webhook", {"webhook_id": hook["webhook_id"]})
    req = wait_for(lambda: next((r for r in receiver.requests if r["path"] == "/hook"), None), timeout=15)
    event = webhooks.verify(req["body"], req["headers"], hook["secret"])
    assert event["type"] == "webhook.test" and event["id"] == req["headers"]["webhook-id"]
    tampered = json.dumps({**json.loads(req["body"]), "type": "message.approved"}).encode()
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(tampered, req["headers"], hook["secret"])
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(req["body"], req["headers"], other["secret"])
    with pytest.raises(webhooks.WebhookVerificationError, match="from this clock"):
        webhooks.verify(req["body"], req["headers"], hook["secret"], now=int(req["headers"]["webhook-timestamp"]) + 3600)
    with pytest.raises(webhooks.WebhookVerificationError, match="Missing"):
        webhooks.verify(req["body"], {k: v for k, v in req["headers"].items() if k != "webhook-signature"}, hook["secret"])
    admin.ok("POST", "delete_webhook", {"webhook_id": hook["webhook_id"]})
    admin.ok("POST", "delete_webhook", {"webhook_id": other["webhook_id"]})


def test_the_standard_webhooks_library_and_ours_agree():
    from datetime import UTC, datetime

    from standardwebhooks import Webhook  # the server's signer; the SDK must accept what it signs

    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    stamp = datetime.now(UTC).replace(microsecond=0)
    body = '{"id": "evt_1", "type": "webhook.test"}'
    headers = {"Webhook-Id": "evt_1", "Webhook-Timestamp": str(int(stamp.timestamp())),
               "Webhook-Signature": "v1,bm90IHRoaXMgb25l " + Webhook(secret).sign("evt_1", stamp, body)}
    assert webhooks.verify(body, headers, secret)["id"] == "evt_1"
    assert webhooks.sign(secret, "evt_1", int(stamp.timestamp()), body) == Webhook(secret).sign("evt_1", stamp, body)
