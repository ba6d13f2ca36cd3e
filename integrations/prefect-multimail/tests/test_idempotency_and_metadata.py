"""Sends carry an idempotency key derived from the Prefect run and the run's ids in metadata
(no MultiMail server: the requests are recorded by fake_multimail.py; flows run against the
session's temporary Prefect server)."""

from __future__ import annotations

import pytest
from fake_multimail import FakeMultiMail
from prefect import flow, task
from prefect_multimail import MultiMailCredentials, decide_email, reply_email, send_email
from prefect_multimail._context import KEY_PREFIX, derive_idempotency_key, merge_metadata, run_metadata

pytestmark = pytest.mark.usefixtures("prefect_api_url")

CREDS = MultiMailCredentials(api_key="mm_live_test", base_url="http://mm.test")


@pytest.fixture
def fake(monkeypatch) -> FakeMultiMail:
    fake = FakeMultiMail()
    fake.install(monkeypatch)
    return fake


def keys_of(fake: FakeMultiMail, verb: str = "send_email") -> list[str | None]:
    return [r.headers.get("Idempotency-Key") for r in fake.sent(verb)]


def test_outside_any_run_there_is_no_derived_key_and_metadata_is_untouched(fake):
    assert derive_idempotency_key("send", {"body": "x"}) is None
    assert run_metadata() == {}
    assert merge_metadata(None) is None
    assert merge_metadata({"a": 1}) == {"a": 1}
    send_email.fn(CREDS, sender="a@acme.test", to="b@x.test", subject="s", body="b", metadata={"a": 1})
    [request] = fake.sent()
    assert "Idempotency-Key" not in request.headers
    assert fake.body(request)["metadata"] == {"a": 1}


def test_a_task_retry_sends_with_the_same_keys_and_two_sends_in_one_task_differ(fake):
    attempts = []

    @task(retries=2, retry_delay_seconds=0)
    def notify_both():
        first = send_email.fn(CREDS, sender="a@acme.test", to="b@x.test", subject="one", body="first")
        second = send_email.fn(CREDS, sender="a@acme.test", to="b@x.test", subject="one", body="first")
        attempts.append((first, second))
        if len(attempts) < 3:
            raise RuntimeError("fails after sending, as a timeout reading the answer would")
        return first, second

    @flow
    def notify():
        return notify_both()

    first, second = notify()
    keys = keys_of(fake)
    assert len(keys) == 6 and all(k and k.startswith(KEY_PREFIX) and len(k) == len(KEY_PREFIX) + 64 for k in keys)
    assert keys[0] != keys[1], "two sends in one task (even identical ones) are two messages"
    assert keys[0::2] == [keys[0]] * 3 and keys[1::2] == [keys[1]] * 3, "every retry repeats the same two keys"
    assert attempts == [(first, second)] * 3  # the server answered each retry with the first messages
    assert first != second


def test_a_flow_retry_repeats_the_keys_and_a_new_flow_run_gets_new_ones(fake):
    runs = []

    @task
    def announce(subject: str) -> str:
        return send_email.fn(CREDS, sender="a@acme.test", to="b@x.test", subject=subject, body="hello")

    @flow(retries=1, retry_delay_seconds=0)
    def daily():
        ids = [announce(s) for s in ("morning", "evening")]
        ids.append(send_email.fn(CREDS, sender="a@acme.test", to="c@x.test", subject="in the flow body", body="x"))
        runs.append(ids)
        if len(runs) == 1:
            raise RuntimeError("the flow fails after sending; its retry must not send again")
        return ids

    first_run = daily()
    keys = keys_of(fake)
    assert len(keys) == 6 and len(set(keys[:3])) == 3
    assert keys[3:] == keys[:3], "the retried flow run sends with the first attempt's keys"
    assert runs[0] == runs[1] == first_run

    second_run = daily()  # tomorrow's scheduled run: a new flow run sends again
    new_keys = keys_of(fake)[6:]
    assert len(new_keys) == 3 and not set(new_keys) & set(keys)
    assert not set(second_run) & set(first_run)


def test_concurrent_identical_sends_are_distinct_messages(fake):
    @flow
    def fan_out():
        futures = [send_email.submit(CREDS, sender="a@acme.test", to="b@x.test", subject="same", body="same") for _ in range(3)]
        return [f.result() for f in futures]

    ids = fan_out()
    assert len(set(ids)) == 3 and len(set(keys_of(fake))) == 3


def test_an_explicit_key_wins_and_each_sending_task_derives_one(fake):
    @flow
    def converse():
        send_email(CREDS, sender="a@acme.test", to="b@x.test", subject="s", body="b", idempotency_key="mine-1")
        reply_email(CREDS, message_id="msg_1", body="thanks")
        decide_email(CREDS, sender="a@acme.test", to="b@x.test", question="Ship?", options=["yes", "no"])

    converse()
    assert keys_of(fake, "send_email") == ["mine-1"]
    assert keys_of(fake, "reply_email")[0].startswith(KEY_PREFIX)
    assert keys_of(fake, "decide_email")[0].startswith(KEY_PREFIX)


def test_sends_carry_the_run_ids_in_metadata_and_keep_the_callers(fake):
    @task(name="notify-ana")
    def notify():
        return send_email.fn(CREDS, sender="a@acme.test", to="b@x.test", subject="s", body="b",
                             metadata={"order": 42, "prefect": {"note": "mine", "flow_name": "overridden"}})

    @flow(name="order-flow")
    def order_flow():
        notify()
        send_email(CREDS, sender="a@acme.test", to="b@x.test", subject="t", body="b")
        from prefect.context import FlowRunContext
        return FlowRunContext.get().flow_run

    flow_run = order_flow()
    user_task_send, task_send = (fake.body(r)["metadata"] for r in fake.sent())
    assert user_task_send["order"] == 42
    prefect_meta = user_task_send["prefect"]
    assert prefect_meta["flow_run_id"] == str(flow_run.id)
    assert prefect_meta["flow_run_name"] == flow_run.name
    assert prefect_meta["flow_name"] == "overridden" and prefect_meta["note"] == "mine"  # the caller's keys win
    assert prefect_meta["task_run_name"].startswith("notify-ana") and prefect_meta["task_run_id"]
    assert "deployment_id" not in prefect_meta  # only the ids that exist
    assert task_send["prefect"]["flow_name"] == "order-flow"
    assert task_send["prefect"]["task_run_name"].startswith("multimail-send-email")
    assert task_send["prefect"]["task_run_id"] != prefect_meta["task_run_id"]


def test_merge_leaves_a_non_object_prefect_value_alone():
    @flow
    def f():
        return merge_metadata({"prefect": "the caller's"}), merge_metadata(None)

    theirs, ours = f()
    assert theirs == {"prefect": "the caller's"}
    assert set(ours["prefect"]) == {"flow_run_id", "flow_run_name", "flow_name"}


def test_only_the_safe_tasks_retry_on_their_own():
    from prefect_multimail import (
        ack_messages,
        cancel_message,
        check_inbox,
        claim_messages,
        read_email,
        release_messages,
        tag_email,
    )

    for safe in (check_inbox, read_email, tag_email, ack_messages, release_messages):
        assert safe.retries == 2 and safe.retry_condition_fn is not None, safe.name
    for unsafe in (send_email, reply_email, decide_email, claim_messages, cancel_message):
        assert unsafe.retries == 0, unsafe.name


def test_the_retry_condition_retries_transient_failures_only():
    from prefect.states import Failed
    from prefect_multimail.tasks import _transient_failure

    from multimail_server.client import ConnectionError as MMConnectionError
    from multimail_server.client import NotFound, RateLimited, ServerError

    def retried(exc: Exception) -> bool:
        return _transient_failure(None, None, Failed(data=exc))

    assert retried(ServerError(503, "unavailable", "down"))
    assert retried(RateLimited(429, "rate_limited", "slow down"))
    assert retried(MMConnectionError(None, "connection_error", "refused"))
    assert not retried(NotFound(404, "message_not_found", "no such message"))
    assert not retried(ValueError("a bug"))


def test_pause_keys_use_the_alphabet_prefect_accepts_and_never_repeat_in_an_attempt():
    import re

    from prefect_multimail.waiting import _pause_key

    class Attempt:  # stands in for a FlowRunContext object (one flow-run attempt)
        pass

    attempt = Attempt()
    first, second = _pause_key(attempt, "frw_AbC123"), _pause_key(attempt, "frw_AbC123")
    assert first == "multimail-frw-abc123" and second == "multimail-frw-abc123-2"
    assert all(re.fullmatch(r"[a-z0-9-]+", f"paused-{k}-schema") for k in (first, second))
    assert _pause_key(Attempt(), "frw_AbC123") == first  # a new attempt (flow retry) starts afresh
