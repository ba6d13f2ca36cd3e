"""claim_messages / ack_messages / release_messages over real HTTP: concurrent claimers never get
the same message and together get all of them; a lease that runs out makes its messages
claimable again and refuses the late ack; scope, ownership and input checks; every claim and ack
is audited. The concurrency test also runs on two servers sharing PostgreSQL (SKIP LOCKED)."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime

import pytest

from .helpers import all_audit, assert_error, snapshot, wait_for
from .pg_pair import pg_pair

CLAIMERS = 5
MESSAGES = 20


def deliver(admin, sender: str, to: str, count: int, prefix: str | None = None) -> list[str]:
    """`count` messages from the autonomous `sender` into `to` (local delivery); their subjects."""
    prefix = prefix or f"claim {secrets.token_hex(3)}"
    subjects = [f"{prefix} #{i}" for i in range(count)]
    for subject in subjects:
        admin.ok("POST", "send_email", {"from": sender, "to": to, "subject": subject, "body": "work item"})

    def arrived():
        got = {m["subject"] for m in admin.ok("GET", "check_inbox", mailbox=to, limit=100)["messages"]}
        return set(subjects) <= got

    wait_for(arrived, timeout=20, what=f"{count} messages in {to}")
    return subjects


def claim_everything(apis, box: str, limit: int = 3) -> list[list[str]]:
    """Each api claims (and acks) in a loop, all released together, until nothing is left."""
    barrier = threading.Barrier(len(apis))
    got: list[list[str]] = [[] for _ in apis]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            while True:
                claim = apis[i].ok("POST", "claim_messages", {"mailbox": box, "limit": limit, "lease_seconds": 60})
                if not claim["messages"]:
                    return
                ids = [m["message_id"] for m in claim["messages"]]
                got[i].extend(ids)
                acked = apis[i].ok("POST", "ack_messages", {"claim_id": claim["claim_id"]})
                assert sorted(acked["acked"]) == sorted(ids)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(apis))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    return got


def assert_disjoint_and_complete(got: list[list[str]], expected: set[str]) -> None:
    flat = [m for ids in got for m in ids]
    assert len(flat) == len(set(flat)), f"a message was claimed twice: {[m for m in set(flat) if flat.count(m) > 1]}"
    assert set(flat) == expected
    assert sum(1 for ids in got if ids) >= 2, f"one claimer took everything; no concurrency was exercised: {got}"


def test_concurrent_claimers_never_share_a_message_and_get_all(admin, mailbox, outside, agent):
    box = mailbox(oversight_mode="autonomous")
    deliver(admin, outside(), box, MESSAGES)
    expected = {m["message_id"] for m in admin.ok("GET", "check_inbox", mailbox=box, limit=100)["messages"]}
    assert len(expected) == MESSAGES
    got = claim_everything([agent(box) for _ in range(CLAIMERS)], box)
    assert_disjoint_and_complete(got, expected)
    # All acknowledged: nothing is claimable any more, now or after any lease.
    assert admin.ok("POST", "claim_messages", {"mailbox": box}) == {
        "claim_id": None, "mailbox": box, "messages": [], "lease_expires_at": None}
    actions = [e["action"] for e in all_audit(admin, mailbox=box)]
    assert actions.count("message.claimed") == MESSAGES and actions.count("message.acked") == MESSAGES


def test_claim_answer_shape_and_lease(admin, mailbox, outside, agent):
    box = mailbox(oversight_mode="autonomous")
    deliver(admin, outside(), box, 3)
    inbox = admin.ok("GET", "check_inbox", mailbox=box, limit=100)["messages"]
    worker = agent(box)
    before = time.time()
    claim = worker.ok("POST", "claim_messages", {"mailbox": box, "limit": 2, "lease_seconds": 120})
    assert claim["claim_id"].startswith("clm_") and claim["mailbox"] == box
    # Oldest first, as check_inbox items.
    assert [m["message_id"] for m in claim["messages"]] == [m["message_id"] for m in reversed(inbox)][:2]
    assert set(claim["messages"][0]) >= {"message_id", "thread_id", "from", "to", "subject", "snippet", "received_at", "tags", "read"}
    expires = datetime.fromisoformat(claim["lease_expires_at"].replace("Z", "+00:00")).timestamp()
    assert before + 115 < expires < time.time() + 125
    # The lease holds: a second claim gets only the third message.
    second = worker.ok("POST", "claim_messages", {"mailbox": box, "limit": 10})
    assert [m["message_id"] for m in second["messages"]] == [inbox[0]["message_id"]]
    assert worker.ok("POST", "claim_messages", {"mailbox": box})["messages"] == []
    # Claims are audited per message, with the claim id.
    claimed = all_audit(admin, mailbox=box, action="message.claimed")
    assert {e["details"]["claim_id"] for e in claimed} == {claim["claim_id"], second["claim_id"]}


def test_lease_expiry_makes_messages_claimable_again_and_late_ack_is_409(admin, mailbox, outside, agent):
    box = mailbox(oversight_mode="autonomous")
    deliver(admin, outside(), box, 2)
    first, second = agent(box), agent(box)
    claim = first.ok("POST", "claim_messages", {"mailbox": box, "lease_seconds": 5})
    ids = [m["message_id"] for m in claim["messages"]]
    assert len(ids) == 2
    assert second.ok("POST", "claim_messages", {"mailbox": box})["messages"] == []
    # The first message is processed in time; the second is not.
    assert first.ok("POST", "ack_messages", {"claim_id": claim["claim_id"], "message_ids": [ids[0]]})["acked"] == [ids[0]]
    expires = datetime.fromisoformat(claim["lease_expires_at"].replace("Z", "+00:00")).timestamp()
    time.sleep(max(0.0, expires - time.time()) + 0.3)

    again = second.ok("POST", "claim_messages", {"mailbox": box})
    assert [m["message_id"] for m in again["messages"]] == [ids[1]], "the unacknowledged message must come back, the acked one never"
    before = snapshot(admin, box)
    err = assert_error(first.post("ack_messages", {"claim_id": claim["claim_id"], "message_ids": [ids[1]]}), 409, "lease_expired")
    assert err["details"]["claim_id"] == claim["claim_id"]
    assert_error(first.post("ack_messages", {"claim_id": claim["claim_id"]}), 409, "lease_expired")
    # Releasing the expired claim gives back nothing (the message belongs to the new claim now).
    assert first.ok("POST", "release_messages", {"claim_id": claim["claim_id"]})["released"] == []
    assert snapshot(admin, box) == before
    assert second.ok("POST", "ack_messages", {"claim_id": again["claim_id"]})["acked"] == [ids[1]]


def test_release_gives_messages_back_at_once(admin, mailbox, outside, agent):
    box = mailbox(oversight_mode="autonomous")
    deliver(admin, outside(), box, 3)
    first, second = agent(box), agent(box)
    claim = first.ok("POST", "claim_messages", {"mailbox": box, "lease_seconds": 600})
    ids = [m["message_id"] for m in claim["messages"]]
    first.ok("POST", "ack_messages", {"claim_id": claim["claim_id"], "message_ids": [ids[0]]})
    released = first.ok("POST", "release_messages", {"claim_id": claim["claim_id"], "message_ids": [ids[1]]})
    assert released == {"claim_id": claim["claim_id"], "released": [ids[1]]}
    assert first.ok("POST", "release_messages", {"claim_id": claim["claim_id"], "message_ids": [ids[1]]})["released"] == []
    # A released message cannot be acked under the old claim.
    assert_error(first.post("ack_messages", {"claim_id": claim["claim_id"], "message_ids": [ids[1]]}), 409, "not_claimed")
    # Releasing the whole claim returns the rest but never the acked one.
    assert first.ok("POST", "release_messages", {"claim_id": claim["claim_id"]})["released"] == [ids[2]]
    taken = second.ok("POST", "claim_messages", {"mailbox": box})
    assert sorted(m["message_id"] for m in taken["messages"]) == sorted(ids[1:])
    actions = [e["action"] for e in all_audit(admin, mailbox=box)]
    assert actions.count("message.released") == 2 and actions.count("message.acked") == 1


def test_tag_filters_choose_what_is_claimed(admin, mailbox, outside, agent):
    box = mailbox(oversight_mode="autonomous")
    deliver(admin, outside(), box, 3)
    inbox = admin.ok("GET", "check_inbox", mailbox=box, limit=100)["messages"]
    admin.ok("POST", "tag_email", {"message_id": inbox[0]["message_id"], "tags": ["urgent"]})
    admin.ok("POST", "tag_email", {"message_id": inbox[1]["message_id"], "tags": ["spam"]})
    worker = agent(box)
    urgent = worker.ok("POST", "claim_messages", {"mailbox": box, "tag": "urgent"})
    assert [m["message_id"] for m in urgent["messages"]] == [inbox[0]["message_id"]]
    assert urgent["messages"][0]["tags"] == {"urgent": ""}
    rest = worker.ok("POST", "claim_messages", {"mailbox": box, "exclude_tag": "spam"})
    assert [m["message_id"] for m in rest["messages"]] == [inbox[2]["message_id"]]


def test_other_tenants_get_404_and_other_keys_403(admin, mailbox, outside, agent, approver):
    box, elsewhere = mailbox(oversight_mode="autonomous"), mailbox()
    deliver(admin, outside(), box, 1)
    owner, stranger, colleague = agent(box), agent(elsewhere), agent(box)
    claim = owner.ok("POST", "claim_messages", {"mailbox": box})
    assert len(claim["messages"]) == 1
    before = snapshot(admin, box)
    assert_error(stranger.post("claim_messages", {"mailbox": box}), 404, "mailbox_not_found")
    for verb in ("ack_messages", "release_messages"):
        assert_error(stranger.post(verb, {"claim_id": claim["claim_id"]}), 404, "claim_not_found")
        assert_error(colleague.post(verb, {"claim_id": claim["claim_id"]}), 403, "not_claim_owner")
        assert_error(owner.post(verb, {"claim_id": "clm_doesnotexist"}), 404, "claim_not_found")
    assert snapshot(admin, box) == before
    # An approver of the mailbox may claim too (any key that can read it).
    assert approver(box).ok("POST", "claim_messages", {"mailbox": box})["messages"] == []


@pytest.mark.parametrize("body, field", [
    ({"mailbox": "BOX", "limit": 0}, "limit"),
    ({"mailbox": "BOX", "limit": 101}, "limit"),
    ({"mailbox": "BOX", "limit": "3"}, "limit"),
    ({"mailbox": "BOX", "lease_seconds": 4}, "lease_seconds"),
    ({"mailbox": "BOX", "lease_seconds": 3601}, "lease_seconds"),
    ({"mailbox": "BOX", "lease": 30}, "lease"),
    ({}, "mailbox"),
])
def test_claim_input_is_checked(admin, mailbox, body, field):
    box = mailbox(oversight_mode="autonomous")
    body = {k: (box if v == "BOX" else v) for k, v in body.items()}
    err = assert_error(admin.post("claim_messages", body), 400)
    assert field in str(err["details"]), err


def test_ack_input_is_checked(admin, mailbox, outside, agent):
    box = mailbox(oversight_mode="autonomous")
    deliver(admin, outside(), box, 1)
    worker = agent(box)
    claim = worker.ok("POST", "claim_messages", {"mailbox": box})
    assert_error(worker.post("ack_messages", {}), 400)
    assert_error(worker.post("ack_messages", {"claim_id": claim["claim_id"], "message_ids": "msg_x"}), 400)
    assert_error(worker.post("ack_messages", {"claim_id": claim["claim_id"], "message_ids": ["msg_other"]}), 400, "not_in_claim")
    # Acknowledging twice is harmless.
    for _ in range(2):
        assert worker.ok("POST", "ack_messages", {"claim_id": claim["claim_id"]})["acked"] == [claim["messages"][0]["message_id"]]
    assert len(all_audit(admin, mailbox=box, action="message.acked")) == 1


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    with pg_pair(tmp_path_factory) as p:
        yield p


def test_concurrent_claimers_on_two_servers_sharing_postgresql(pair):
    box = f"pair-{secrets.token_hex(4)}@acme.test"
    sender = f"pair-out-{secrets.token_hex(4)}@acme.test"
    pair.admins[0].ok("POST", "create_mailbox", {"address": box, "oversight_mode": "autonomous"})
    pair.admins[0].ok("POST", "create_mailbox", {"address": sender, "oversight_mode": "autonomous"})
    deliver(pair.admins[0], sender, box, MESSAGES)
    expected = {m["message_id"] for m in pair.admins[0].ok("GET", "check_inbox", mailbox=box, limit=100)["messages"]}
    keys = [pair.admins[0].ok("POST", "create_api_key", {"role": "agent", "mailboxes": [box]})["api_key"] for _ in range(CLAIMERS)]
    got = claim_everything([pair.api(i % 2, k) for i, k in enumerate(keys)], box, limit=2)
    assert_disjoint_and_complete(got, expected)
    pair.assert_clean_logs()
