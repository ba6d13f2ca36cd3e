"""The SDK's claim_messages / ack_messages / release_messages and the `wait` long-poll of
list_pending and get_thread, sync and async, against the session's real server; plus, offline,
that a long-poll's read timeout is stretched past its `wait`."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from multimail_server.client import AsyncMultiMail, Conflict, MultiMail, NotFound

from .conftest import new_address, run_client, v, wait_inbox


def setup_inbox(admin_client: MultiMail, count: int) -> str:
    box, outside = new_address("claims"), new_address("claims-out")
    admin_client.create_mailbox(box, oversight_mode="autonomous")
    admin_client.create_mailbox(outside, oversight_mode="autonomous")
    for i in range(count):
        admin_client.send_email(sender=outside, to=box, subject=f"job {i}", body="work")
    return box


def test_claim_ack_release(flavor, conn, admin_client):
    box = setup_inbox(admin_client, 3)
    agent_key = admin_client.create_api_key(role="agent", mailboxes=[box])["api_key"]

    async def go(c):
        await wait_inbox(c, box, 3)
        claim = await v(c.claim_messages(box, limit=2, lease_seconds=30))
        ids = [m["message_id"] for m in claim["messages"]]
        assert claim["claim_id"].startswith("clm_") and len(ids) == 2 and claim["lease_expires_at"]
        assert [m["subject"] for m in claim["messages"]] == ["job 0", "job 1"]  # oldest first
        acked = await v(c.ack_messages(claim["claim_id"], [ids[0]]))
        assert acked["acked"] == [ids[0]] and acked["processed_at"]
        assert (await v(c.release_messages(claim["claim_id"])))["released"] == [ids[1]]
        rest = await v(c.claim_messages(box, limit=10))
        assert sorted(m["subject"] for m in rest["messages"]) == ["job 1", "job 2"]
        await v(c.ack_messages(rest["claim_id"]))
        empty = await v(c.claim_messages(box))
        assert empty["claim_id"] is None and empty["messages"] == []
        with pytest.raises(NotFound):
            await v(c.ack_messages("clm_unknown"))
        with pytest.raises(Conflict) as info:
            await v(c.ack_messages(claim["claim_id"], [ids[1]]))  # released, not held any more
        assert info.value.code == "not_claimed"

    run_client(flavor, go, api_key=agent_key, base_url=conn["base_url"], retry_backoff=0)


def test_two_clients_claim_disjoint_sets(conn, admin_client):
    box = setup_inbox(admin_client, 8)
    keys = [admin_client.create_api_key(role="agent", mailboxes=[box])["api_key"] for _ in range(2)]
    with MultiMail(api_key=keys[0], base_url=conn["base_url"]) as first:
        asyncio.run(wait_inbox(first, box, 8))

    async def worker(key: str) -> list[str]:
        got = []
        async with AsyncMultiMail(api_key=key, base_url=conn["base_url"]) as c:
            while (claim := await c.claim_messages(box, limit=1))["messages"]:
                got += [m["message_id"] for m in claim["messages"]]
                await c.ack_messages(claim["claim_id"])
        return got

    async def both():
        return await asyncio.gather(*(worker(k) for k in keys))

    a, b = asyncio.run(both())
    assert not set(a) & set(b) and len(a) + len(b) == 8


def test_long_poll_wakes_on_approval(flavor, conn, admin_client):
    box = new_address("poll")
    admin_client.create_mailbox(box, oversight_mode="gated_send")
    agent_key = admin_client.create_api_key(role="agent", mailboxes=[box])["api_key"]
    with MultiMail(api_key=agent_key, base_url=conn["base_url"]) as agent:
        held = agent.send_email(sender=box, to="x@partner.test", subject="gate", body="b")
    approved_at: list[float] = []

    def approve_soon():
        time.sleep(0.8)
        approved_at.append(time.monotonic())
        admin_client.approve_message(held.message_id)

    async def go(c):
        # A client timeout far below `wait`: the long-poll's own read timeout must be stretched.
        threading.Thread(target=approve_soon, daemon=True).start()
        answer = await v(c.list_pending(message_id=held.message_id, wait=20))
        woke = time.monotonic()
        assert answer["messages"][0]["status"] == "approved"
        assert woke - approved_at[0] < 2.0
        start = time.monotonic()
        thread = await v(c.get_thread(held.thread_id, wait=1, after_message_id=held.message_id))
        assert 0.95 <= time.monotonic() - start < 2.0 and thread["thread_id"] == held.thread_id

    run_client(flavor, go, api_key=agent_key, base_url=conn["base_url"], timeout=0.5, retry_backoff=0, max_retries=0)


@pytest.mark.parametrize("timeout, read", [(0.5, 15.0), (100.0, 100.0), (httpx.Timeout(2.0), 15.0),
                                            (httpx.Timeout(5.0, read=None), None)])
def test_long_poll_read_timeout_exceeds_wait_offline(timeout, read):
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={"messages": []})

    with MultiMail(api_key="mm_live_x", base_url="http://mm.test", timeout=timeout, transport=httpx.MockTransport(handler)) as c:
        c.list_pending(message_id="msg_1", wait=5)
        c.get_thread("thr_1", wait=5, min_messages=2)
        c.list_pending()
    assert seen[0]["read"] == read and seen[1]["read"] == read
    default_read = timeout.read if isinstance(timeout, httpx.Timeout) else timeout
    assert seen[2]["read"] == default_read
