"""Idempotency over HTTP: explicit keys (header or body field) and the implicit window."""

import secrets

import pytest

from .helpers import assert_error, new_address, snapshot, wait_status


def _send(box, **extra):
    return {"from": box, "to": "ana@partner.test", "subject": "Report", "body": "Numbers attached.", **extra}


@pytest.mark.parametrize("where", ["header", "body"])
def test_explicit_key_replays_same_answer(admin, agent, mailbox, where):
    box = mailbox()
    key = agent(box)
    idem = f"run-{secrets.token_hex(6)}"

    def call(body):
        if where == "header":
            return key.post("send_email", body, headers={"Idempotency-Key": idem})
        return key.post("send_email", {**body, "idempotency_key": idem})

    first = call(_send(box))
    assert first.status_code == 200 and first.json()["duplicate"] is False
    again = call(_send(box))
    assert again.status_code == 200
    assert again.json()["message_id"] == first.json()["message_id"] and again.json()["duplicate"] is True
    assert again.json()["thread_id"] == first.json()["thread_id"]
    before = snapshot(admin, box)
    err = assert_error(call(_send(box, body="Different numbers.")), 409, "idempotency_key_reused")
    assert err["details"]["idempotency_key"] == idem
    assert snapshot(admin, box) == before
    ours = [m for m in admin.ok("GET", "list_pending", mailbox=box)["messages"]]
    assert [m["message_id"] for m in ours] == [first.json()["message_id"]]


def test_header_and_body_key_are_the_same_key(admin, mailbox):
    box = mailbox()
    idem = secrets.token_hex(8)
    first = admin.ok("POST", "send_email", {**_send(box), "idempotency_key": idem})
    again = admin.post("send_email", _send(box), headers={"Idempotency-Key": idem})
    # The body differs only by carrying the key, which is not part of the request it names.
    assert again.status_code == 200 and again.json()["message_id"] == first["message_id"] and again.json()["duplicate"] is True
    assert_error(admin.post("send_email", {**_send(box), "idempotency_key": "a"}, headers={"Idempotency-Key": "b"}), 400,
                 "invalid_idempotency_key")


def test_explicit_key_is_per_api_key(admin, agent, mailbox):
    box = mailbox()
    one, two = agent(box), agent(box)
    idem = secrets.token_hex(8)
    a = one.ok("POST", "send_email", {**_send(box), "idempotency_key": idem})
    b = two.ok("POST", "send_email", {**_send(box, subject="Other"), "idempotency_key": idem})
    assert a["message_id"] != b["message_id"] and b["duplicate"] is False


def test_explicit_key_on_reply_and_decide(admin, mailbox, inbound):
    box = mailbox(oversight_mode="autonomous")
    parent = inbound(box)
    idem = secrets.token_hex(8)
    r1 = admin.ok("POST", "reply_email", {"message_id": parent["message_id"], "body": "once", "idempotency_key": idem})
    r2 = admin.ok("POST", "reply_email", {"message_id": parent["message_id"], "body": "once", "idempotency_key": idem})
    assert r2["message_id"] == r1["message_id"] and r2["duplicate"] is True
    assert_error(admin.post("reply_email", {"message_id": parent["message_id"], "body": "twice", "idempotency_key": idem}), 409,
                 "idempotency_key_reused")
    d = {"from": box, "to": new_address(), "question": "Go?", "options": ["Yes", "No"]}
    d1 = admin.post("decide_email", d, headers={"Idempotency-Key": idem})
    d2 = admin.post("decide_email", d, headers={"Idempotency-Key": idem})
    assert d1.status_code == d2.status_code == 200
    assert d2.json()["message_id"] == d1.json()["message_id"] and d2.json()["duplicate"] is True
    wait_status(admin, r1["message_id"])


@pytest.mark.parametrize("bad", ["", "x" * 257, "tab\there", "bell\x07", "nul\x00"])
def test_invalid_keys_are_400(admin, mailbox, bad):
    box = mailbox()
    before = snapshot(admin, box)
    err = assert_error(admin.post("send_email", {**_send(box), "idempotency_key": bad}), 400)
    assert err["code"] in ("invalid_idempotency_key", "invalid_string")
    if "\x00" not in bad and "\x07" not in bad:
        # Header form (a NUL or BEL cannot travel in an HTTP header).
        assert_error(admin.post("send_email", _send(box), headers={"Idempotency-Key": bad}), 400, "invalid_idempotency_key")
    assert snapshot(admin, box) == before


def test_key_length_bounds(admin, mailbox):
    box = mailbox()
    assert admin.post("send_email", _send(box), headers={"Idempotency-Key": "k" * 256}).status_code == 200
    assert admin.post("send_email", _send(box, subject="one char"), headers={"Idempotency-Key": "1"}).status_code == 200


def test_implicit_window_dedupes_identical_requests(admin, agent, mailbox):
    box = mailbox(oversight_mode="autonomous")
    recipient = mailbox()
    key = agent(box)
    body = {"from": box, "to": recipient, "subject": "Retry me", "body": "Same content."}
    first = key.ok("POST", "send_email", body)
    again = key.ok("POST", "send_email", body)
    assert again["message_id"] == first["message_id"] and again["duplicate"] is True
    # Metadata is not content: a retry that adds it is the same request.
    assert key.ok("POST", "send_email", {**body, "metadata": {"attempt": 2}})["message_id"] == first["message_id"]
    # Different content is a new message, and so is a different oversight mode.
    other = key.ok("POST", "send_email", {**body, "body": "Other content."})
    assert other["message_id"] != first["message_id"] and other["duplicate"] is False
    stricter = key.ok("POST", "send_email", {**body, "oversight_mode": "gated_all"})
    assert stricter["message_id"] != first["message_id"] and stricter["status"] == "pending"
    # Another API key is another client.
    third = agent(box).ok("POST", "send_email", body)
    assert third["message_id"] != first["message_id"]
    for m in (first, other, third):
        wait_status(admin, m["message_id"])
    subjects = [m["subject"] for m in admin.ok("GET", "check_inbox", mailbox=recipient)["messages"]]
    assert subjects.count("Retry me") == 3  # first, other content, other key; never the retries


def test_window_zero_turns_implicit_dedupe_off(admin, mailbox):
    box = mailbox()
    admin.ok("POST", "update_mailbox", {"mailbox": box, "idempotency_window_seconds": 0})
    a = admin.ok("POST", "send_email", _send(box))
    b = admin.ok("POST", "send_email", _send(box))
    assert a["message_id"] != b["message_id"] and b["duplicate"] is False
    # An explicit key still works with the window off.
    idem = secrets.token_hex(8)
    c = admin.ok("POST", "send_email", {**_send(box), "idempotency_key": idem})
    assert admin.ok("POST", "send_email", {**_send(box), "idempotency_key": idem})["message_id"] == c["message_id"]
    assert len(admin.ok("GET", "list_pending", mailbox=box)["messages"]) == 3


def test_implicit_window_on_reply(admin, mailbox, inbound):
    box = mailbox(oversight_mode="autonomous")
    parent = inbound(box)
    a = admin.ok("POST", "reply_email", {"message_id": parent["message_id"], "body": "Got it."})
    b = admin.ok("POST", "reply_email", {"message_id": parent["message_id"], "body": "Got it."})
    assert b["message_id"] == a["message_id"] and b["duplicate"] is True
    wait_status(admin, a["message_id"])


def test_refused_request_does_not_take_the_key(admin, mailbox):
    """A request refused for any reason changes nothing: its key stays free for a good request."""
    box = mailbox()
    idem = secrets.token_hex(8)
    assert_error(admin.post("send_email", {**_send(box, to="not an address"), "idempotency_key": idem}), 400, "invalid_address")
    ok = admin.ok("POST", "send_email", {**_send(box), "idempotency_key": idem})
    assert ok["duplicate"] is False


def test_replay_survives_a_mode_change_and_refusals_free_the_key(admin, agent, mailbox):
    box = mailbox(oversight_mode="gated_send")
    key = agent(box)
    idem = secrets.token_hex(8)
    first = key.ok("POST", "send_email", {**_send(box), "idempotency_key": idem})
    # The admin locks the mailbox; the retry of a request that already succeeded still gets its answer.
    admin.ok("POST", "update_mailbox", {"mailbox": box, "oversight_mode": "read_only", "min_oversight": "read_only"})
    again = key.ok("POST", "send_email", {**_send(box), "idempotency_key": idem})
    assert again["message_id"] == first["message_id"] and again["duplicate"] is True
    # A new request under read_only is refused, and its key is not used up by the refusal.
    other = secrets.token_hex(8)
    assert_error(key.post("send_email", {**_send(box, subject="New"), "idempotency_key": other}), 403, "oversight_read_only")
    admin.ok("POST", "update_mailbox", {"mailbox": box, "oversight_mode": "gated_send", "min_oversight": "gated_send"})
    fresh = key.ok("POST", "send_email", {**_send(box, subject="New"), "idempotency_key": other})
    assert fresh["duplicate"] is False and fresh["message_id"] != first["message_id"]
