"""iter_inbox follows next_cursor over real HTTP, sync and async."""

from __future__ import annotations

import httpx

from .conftest import collect, run_client, wait_inbox


class CountingTransport(httpx.BaseTransport):
    def __init__(self):
        self.inner = httpx.HTTPTransport()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request):
        self.requests.append(request)
        return self.inner.handle_request(request)

    def close(self):
        self.inner.close()


class AsyncCountingTransport(httpx.AsyncBaseTransport):
    def __init__(self):
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request):
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self):
        await self.inner.aclose()


def test_iter_inbox_pages(flavor, conn, admin_client, mailbox):
    box = mailbox(oversight_mode="gated_send")
    sender = mailbox(oversight_mode="autonomous")
    for i in range(5):
        admin_client.send_email(sender=sender, to=box, subject=f"Page test {i}", body=f"message {i}")
    newest_first = [m["message_id"] for m in wait_inbox_sync(admin_client, box, 5)]
    admin_client.tag_email(newest_first[1], ["done"])

    transport = CountingTransport() if flavor == "sync" else AsyncCountingTransport()

    async def go(c):
        items = await collect(c.iter_inbox(box, page_size=2))
        assert [m["message_id"] for m in items] == newest_first
        check_inbox_calls = [r for r in transport.requests if r.url.path == "/v1/check_inbox"]
        assert len(check_inbox_calls) == 3
        assert [r.url.params.get("cursor") is None for r in check_inbox_calls] == [True, False, False]
        assert all(r.url.params["limit"] == "2" for r in check_inbox_calls)
        # Filters apply to every page.
        rest = await collect(c.iter_inbox(box, exclude_tag="done", page_size=1))
        assert [m["message_id"] for m in rest] == [newest_first[0], *newest_first[2:]]
        assert await collect(c.iter_inbox(box, tag="nope")) == []

    run_client(flavor, go, transport=transport, **conn)


def wait_inbox_sync(client, box, count):
    import asyncio

    return asyncio.run(wait_inbox(client, box, count))
