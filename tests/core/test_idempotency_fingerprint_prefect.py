"""An explicit idempotency key pins the request less its Prefect run bookkeeping."""

from multimail_server.core.idempotency import fingerprint, request_fingerprint


def test_metadata_prefect_is_not_part_of_what_a_key_pins():
    base = {"from": "a@x.test", "to": "b@x.test", "subject": "s", "body": "b"}
    first = {**base, "metadata": {"prefect": {"flow_run_id": "r", "task_run_id": "t1"}, "ticket": 7}}
    retry = {**base, "metadata": {"prefect": {"flow_run_id": "r", "task_run_id": "t2"}, "ticket": 7}}
    assert request_fingerprint(first) == request_fingerprint(retry)
    assert request_fingerprint({**base, "metadata": {"prefect": {"x": 1}}}) == request_fingerprint(base) == fingerprint(base)


def test_everything_else_still_counts():
    base = {"from": "a@x.test", "to": "b@x.test", "subject": "s", "body": "b"}
    assert request_fingerprint({**base, "metadata": {"ticket": 7}}) != request_fingerprint({**base, "metadata": {"ticket": 8}})
    assert request_fingerprint({**base, "body": "c"}) != request_fingerprint(base)
