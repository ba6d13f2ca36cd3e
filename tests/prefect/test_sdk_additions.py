"""The SDK calls prefect-multimail relies on: register_wait and list_pending(flow_run_id=...),
sync and async (httpx.MockTransport, no server)."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from multimail_server.client import AsyncMultiMail, BadRequest, Conflict, MultiMail

WAIT = {"wait_id": "frw_1", "kind": "approval", "flow_run_id": "x", "resume": "prefect", "status": "waiting", "outcome": None}


def clients(handler):
    transport = httpx.MockTransport(handler)
    return (MultiMail(api_key="mm_live_t", base_url="http://mm.test", transport=transport, retry_backoff=0),
            AsyncMultiMail(api_key="mm_live_t", base_url="http://mm.test", transport=transport, retry_backoff=0))


def run_both(handler, call):
    sync, async_ = clients(handler)
    with sync:
        first = call(sync)

    async def main():
        async with async_:
            return await call(async_)

    return first, asyncio.run(main())


def test_register_wait_posts_one_target_and_is_retried_as_idempotent():
    seen: list[httpx.Request] = []
    flaky = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        flaky["n"] += 1
        if flaky["n"] % 2 == 1:  # every first attempt fails: the call is safe to repeat
            return httpx.Response(503, json={"error": {"code": "unavailable", "message": "x", "details": {}}})
        return httpx.Response(200, json=WAIT)

    run_id = uuid.uuid4()
    a, b = run_both(handler, lambda c: c.register_wait(run_id, message_id="msg_1"))
    assert a == b == WAIT
    bodies = [json.loads(r.content) for r in seen]
    assert all(r.url.path == "/v1/register_wait" and r.method == "POST" for r in seen)
    assert bodies[0] == {"flow_run_id": str(run_id), "message_id": "msg_1"} and len(seen) == 4

    seen.clear()
    run_both(handler, lambda c: c.register_wait(str(run_id), thread_id="thr_1"))
    assert json.loads(seen[-1].content) == {"flow_run_id": str(run_id), "thread_id": "thr_1"}


@pytest.mark.parametrize("status,error", [(400, BadRequest), (409, Conflict)])
def test_register_wait_errors_are_typed(status, error):
    def handler(request):
        return httpx.Response(status, json={"error": {"code": "not_a_decision", "message": "no question", "details": {}}})

    sync, _ = clients(handler)
    with sync, pytest.raises(error):
        sync.register_wait("not-a-uuid", thread_id="thr_1")


def test_list_pending_filters_by_flow_run():
    seen: list[httpx.Request] = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"messages": []})

    run_id = uuid.uuid4()
    run_both(handler, lambda c: c.list_pending(flow_run_id=run_id))
    assert [r.url.params["flow_run_id"] for r in seen] == [str(run_id)] * 2
    run_both(handler, lambda c: c.list_pending("box@acme.test"))
    assert "flow_run_id" not in seen[-1].url.params
