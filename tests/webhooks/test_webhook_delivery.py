"""Webhook delivery against a real receiver on loopback: signed per Standard Webhooks, retried
with the same webhook-id, never towards a refused address, endpoints disabled after failures."""

from __future__ import annotations

import json
import random
from datetime import timedelta

from sqlalchemy import select
from standardwebhooks import Webhook

from multimail_server.core.access import Principal
from multimail_server.services import mailboxes, sending, webhooks
from multimail_server.services.webhook_delivery import WebhookWorker
from multimail_server.store import tables as t

OP = Principal.local_operator()


def deliveries(ctx):
    with ctx.store.read() as tx:
        return [dict(r) for r in tx.execute(select(t.webhook_deliveries).order_by(t.webhook_deliveries.c.seq)).mappings()]


def attempts(ctx):
    with ctx.store.read() as tx:
        return [dict(r) for r in tx.execute(select(t.webhook_attempts).order_by(t.webhook_attempts.c.seq)).mappings()]


def setup_hook(ctx, url, **kw):
    mailboxes.create_mailbox(ctx, principal=OP, address="agent@acme.test", oversight_mode="gated_send")
    return webhooks.create_webhook(ctx, principal=OP, url=url, **kw)


def send_one(ctx):
    return sending.send_email(ctx, principal=OP, sender="agent@acme.test", to="ana@partner.test", subject="Hi", body="b")


def send_n(ctx, i: int):
    return sending.send_email(ctx, principal=OP, sender="agent@acme.test", to="ana@partner.test", subject=f"Hi {i}", body="b")


def test_event_is_signed_and_verifiable_with_standardwebhooks(wctx, receiver):
    hook = setup_hook(wctx, receiver.url, events=["message.pending"])
    sent = send_one(wctx)
    assert WebhookWorker(wctx).run_once() == 1
    [req] = receiver.requests
    payload = Webhook(hook["secret"]).verify(req["body"], req["headers"])  # raises if the signature is wrong
    assert payload["type"] == "message.pending"
    assert set(payload) == {"id", "type", "created_at", "data"}
    assert payload["data"]["message_id"] == sent["message_id"]
    assert req["headers"]["webhook-id"] == payload["id"]
    assert req["headers"]["content-type"] == "application/json"
    [d] = deliveries(wctx)
    assert d["status"] == "succeeded" and d["attempts"] == 1


def test_a_receiver_that_fails_three_times_gets_the_event_once_more_with_the_same_id(wctx, receiver):
    setup_hook(wctx, receiver.url, events=["message.pending"])
    receiver.script = [(500, {}, b"boom"), (503, {}, b"busy"), (502, {}, b"gw")]
    send_one(wctx)
    worker = WebhookWorker(wctx, rng=random.Random(1))
    for _ in range(4):
        assert worker.run_once() == 1
        assert worker.run_once() == 0  # not due again until the backoff has passed
        wctx.test_clock.now += timedelta(seconds=10)
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    bodies = {r["body"] for r in receiver.requests}
    assert len(receiver.requests) == 4 and len(ids) == 1 and len(bodies) == 1
    assert [a["status_code"] for a in attempts(wctx)] == [500, 503, 502, 200]
    assert attempts(wctx)[0]["response_body"] == "boom"
    [d] = deliveries(wctx)
    assert d["status"] == "succeeded" and d["attempts"] == 4


def test_backoff_follows_the_schedule_and_honours_retry_after(wctx, receiver):
    setup_hook(wctx, receiver.url, events=["message.pending"])
    receiver.script = [(500, {}, b""), (429, {"Retry-After": "120"}, b"")]
    send_one(wctx)
    worker = WebhookWorker(wctx)
    t0 = wctx.test_clock.now
    worker.run_once()
    first = deliveries(wctx)[0]["next_attempt_at"] - t0
    assert timedelta(seconds=0.8) <= first <= timedelta(seconds=1.2)  # schedule[0] = 1 s, ±20 %
    wctx.test_clock.now += timedelta(seconds=2)
    worker.run_once()
    second = deliveries(wctx)[0]["next_attempt_at"] - wctx.test_clock.now
    assert second >= timedelta(seconds=120)  # the receiver asked for two minutes


def test_non_retryable_answers_and_an_exhausted_schedule_fail_the_delivery(wctx, receiver):
    setup_hook(wctx, receiver.url, events=["message.pending"])
    receiver.script = [(410, {}, b"gone")]
    send_one(wctx)
    WebhookWorker(wctx).run_once()
    [d] = deliveries(wctx)
    assert d["status"] == "failed" and d["last_status_code"] == 410
    # A 5xx every time: 1 try + 3 retries (the schedule has three steps), then failed.
    receiver.script = [(500, {}, b"")] * 10
    send_one_more = sending.send_email(wctx, principal=OP, sender="agent@acme.test", to="bob@partner.test", subject="2", body="2")
    worker = WebhookWorker(wctx)
    for _ in range(6):
        worker.run_once()
        wctx.test_clock.now += timedelta(seconds=10)
    second = [d for d in deliveries(wctx) if json.loads(d["payload"])["data"]["message_id"] == send_one_more["message_id"]][0]
    assert second["status"] == "failed" and second["attempts"] == 4


def test_redirects_are_not_followed(wctx, receiver):
    setup_hook(wctx, receiver.url, events=["message.pending"])
    receiver.script = [(302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"")]
    send_one(wctx)
    WebhookWorker(wctx).run_once()
    assert len(receiver.requests) == 1
    [d] = deliveries(wctx)
    assert d["status"] == "failed" and d["last_status_code"] == 302


def test_a_name_that_resolves_to_a_metadata_address_is_never_called(wctx, receiver):
    hook = setup_hook(wctx, receiver.url, events=["message.pending"])
    send_one(wctx)
    # DNS now answers with the cloud metadata address (rebinding): the worker refuses to connect.
    worker = WebhookWorker(wctx, resolver=lambda host, port: ["169.254.169.254"])
    worker.run_once()
    assert receiver.requests == []
    [d] = deliveries(wctx)
    assert d["status"] == "failed" and "metadata" in d["last_error"]
    assert hook["webhook_id"]


def test_endpoint_is_disabled_after_consecutive_failed_deliveries(wctx, receiver):
    hook = setup_hook(wctx, receiver.url, events=["message.pending"])
    receiver.script = [(400, {}, b"")] * 5
    send_one(wctx)
    sending.send_email(wctx, principal=OP, sender="agent@acme.test", to="bob@partner.test", subject="2", body="2")
    sending.send_email(wctx, principal=OP, sender="agent@acme.test", to="eve@partner.test", subject="3", body="3")
    WebhookWorker(wctx).run_once()
    with wctx.store.read() as tx:
        row = tx.execute(select(t.webhooks).where(t.webhooks.c.id == hook["webhook_id"])).mappings().one()
        disabled_events = tx.execute(select(t.events).where(t.events.c.type == "webhook.disabled")).mappings().all()
    assert row["enabled"] is False and "2 deliveries in a row failed" in row["disabled_reason"]
    assert len(disabled_events) == 1
    # Two requests were made; the third delivery fails without calling the disabled endpoint.
    assert len(receiver.requests) == 2
    assert [d["status"] for d in deliveries(wctx)] == ["failed"] * 3


def test_success_resets_the_failure_count(wctx, receiver):
    hook = setup_hook(wctx, receiver.url, events=["message.pending"])
    receiver.script = [(400, {}, b""), (200, {}, b""), (400, {}, b"")]
    for i in range(3):
        sending.send_email(wctx, principal=OP, sender="agent@acme.test", to=f"p{i}@partner.test", subject=str(i), body="b")
    WebhookWorker(wctx).run_once()
    with wctx.store.read() as tx:
        row = tx.execute(select(t.webhooks).where(t.webhooks.c.id == hook["webhook_id"])).mappings().one()
    assert row["enabled"] is True and row["consecutive_failures"] == 1


def test_one_endpoints_deliveries_go_in_order_over_one_kept_alive_connection(wctx):
    """A pass posts an endpoint's deliveries one after another over one connection and records
    them together; a failure in the middle is recorded before the next post, with its retry."""
    from .conftest import Receiver

    receiver = Receiver(keep_alive=True)
    try:
        setup_hook(wctx, receiver.url, events=["message.pending"])
        sent = [send_n(wctx, i)["message_id"] for i in range(5)]
        receiver.script = [(200, {}, b"ok"), (500, {}, b"boom")]
        worker = WebhookWorker(wctx, rng=random.Random(1))
        assert worker.run_once() == 5
        assert [json.loads(r["body"])["data"]["message_id"] for r in receiver.requests] == sent
        assert len({r["client"] for r in receiver.requests}) == 1  # one connection for all five
        ds = deliveries(wctx)
        assert [d["status"] for d in ds] == ["succeeded", "pending", "succeeded", "succeeded", "succeeded"]
        assert [d["attempts"] for d in ds] == [1] * 5
        assert [a["status_code"] for a in attempts(wctx)] == [200, 500, 200, 200, 200]
        wctx.test_clock.now += timedelta(days=1)
        assert worker.run_once() == 1  # the failed one, retried
        assert [d["status"] for d in deliveries(wctx)] == ["succeeded"] * 5
        worker.pool.close()
    finally:
        receiver.stop()


def test_deliveries_whose_lease_would_run_out_are_released_untried(wctx, receiver):
    """A row is posted only while its lease outlasts the post: otherwise another worker could
    take it over mid-post. Rows left are given back (their claim's attempt taken back)."""
    setup_hook(wctx, receiver.url, events=["message.pending"])
    for i in range(3):
        send_n(wctx, i)
    clock = iter([0.0] * 4)  # the claim, the first post, then time is up
    worker = WebhookWorker(wctx)
    worker.clock = lambda: next(clock, 1000.0)
    assert worker.run_once() == 3
    ds = deliveries(wctx)
    assert len(receiver.requests) == 1
    assert [(d["status"], d["attempts"], d["locked_until"]) for d in ds[1:]] == [("pending", 0, None)] * 2
    assert WebhookWorker(wctx).run_once() == 2
    assert len(receiver.requests) == 3 and [d["status"] for d in deliveries(wctx)] == ["succeeded"] * 3
