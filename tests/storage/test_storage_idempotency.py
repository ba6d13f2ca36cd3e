"""Idempotency slots through `send_email`: the implicit window and explicit keys expire on time,
are per API key, refuse a reused key with another body, and serialise concurrent requests."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from multimail_server.core.errors import Conflict
from multimail_server.services import sending
from multimail_server.store import tables as t


def send(ctx, principal, box, *, subject="Weekly report", body="All green.", key=None):
    return sending.send_email(ctx, principal=principal, sender=box, to="boss@partner.test", subject=subject, body=body,
                              idempotency_key=key)


def test_the_implicit_window_expires_into_a_new_message(ctx, clock, new_mailbox, principal_for, db):
    box = new_mailbox(oversight_mode="gated_send", idempotency_window_seconds=900)
    agent = principal_for("agent", [box])
    first = send(ctx, agent, box)
    clock.advance(seconds=899)
    retry = send(ctx, agent, box)
    assert (retry["message_id"], retry["duplicate"]) == (first["message_id"], True)
    assert send(ctx, agent, box, body="Something else.")["duplicate"] is False  # other content, other slot

    clock.advance(seconds=1)  # 900 s after the first: the window is over
    later = send(ctx, agent, box)
    assert later["duplicate"] is False and later["message_id"] != first["message_id"]
    # ...and the new message holds the slot for its own window.
    clock.advance(seconds=600)
    assert send(ctx, agent, box)["message_id"] == later["message_id"]
    assert db.count(t.messages, subject="Weekly report", body_text="All green.") == 2
    assert db.count(t.audit_events, action="message.send") == 3


def test_a_zero_window_turns_implicit_deduplication_off(ctx, new_mailbox, principal_for, db):
    box = new_mailbox(oversight_mode="gated_send", idempotency_window_seconds=0)
    agent = principal_for("agent", [box])
    ids = {send(ctx, agent, box)["message_id"] for _ in range(3)}
    assert len(ids) == 3
    assert db.count(t.idempotency) == 0
    # An explicit key still works with the window off.
    a, b = send(ctx, agent, box, key="k-1"), send(ctx, agent, box, key="k-1")
    assert a["message_id"] == b["message_id"] and b["duplicate"] is True


def test_an_explicit_key_pins_the_answer_for_24_hours(ctx, clock, new_mailbox, principal_for, db):
    box = new_mailbox(oversight_mode="gated_send", idempotency_window_seconds=60)
    agent = principal_for("agent", [box])
    first = send(ctx, agent, box, key="report-2024-06-01")
    clock.advance(hours=23, minutes=59)  # far past the implicit window, inside the key's 24 h
    again = send(ctx, agent, box, key="report-2024-06-01")
    assert (again["message_id"], again["duplicate"]) == (first["message_id"], True)

    before = db.snapshot()
    with pytest.raises(Conflict) as exc:
        send(ctx, agent, box, key="report-2024-06-01", body="A different body.")
    assert exc.value.code == "idempotency_key_reused"
    assert db.snapshot() == before  # refused: nothing written, not even an audit row

    clock.advance(minutes=2)  # past 24 h: the key is free again
    fresh = send(ctx, agent, box, key="report-2024-06-01", body="A different body.")
    assert fresh["duplicate"] is False and fresh["message_id"] != first["message_id"]
    [slot] = db.rows(t.idempotency, slot="key:send:report-2024-06-01")
    assert slot["message_id"] == fresh["message_id"]


def test_slots_belong_to_one_api_key(ctx, new_mailbox, principal_for):
    box = new_mailbox(oversight_mode="gated_send")
    one, two = principal_for("agent", [box]), principal_for("agent", [box])
    assert send(ctx, one, box)["message_id"] != send(ctx, two, box)["message_id"]
    assert send(ctx, one, box, key="k")["message_id"] != send(ctx, two, box, key="k")["message_id"]


@pytest.mark.parametrize("key", [None, "same-key"], ids=["implicit", "explicit"])
def test_concurrent_identical_sends_create_one_message(ctx, new_mailbox, principal_for, db, key):
    box = new_mailbox(oversight_mode="gated_send")
    agent = principal_for("agent", [box])
    n = 20
    barrier = threading.Barrier(n)

    def one(_):
        barrier.wait()
        return send(ctx, agent, box, key=key)

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(one, range(n)))
    assert len({r["message_id"] for r in results}) == 1
    assert sorted(r["duplicate"] for r in results) == [False] + [True] * (n - 1)
    assert db.count(t.messages, direction="outbound") == 1
    assert db.count(t.threads) == 1
    assert db.count(t.audit_events, action="message.send") == 1
    assert db.count(t.events, type="message.pending") == 1
