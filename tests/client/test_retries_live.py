"""Automatic idempotency over real HTTP: a send whose answer is lost is retried and creates one message.

The transports below forward each request to the real server and then, once, throw the answer
away and raise `httpx.ReadError` — the connection dropped after the server did the work. The
mailboxes have `idempotency_window_seconds=0`, so the server's implicit window cannot hide a
second send: only the client's idempotency key can.
"""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest

import multimail_server.client as mm
from multimail_server.client import AsyncMultiMail, MultiMail


class DropFirstAnswer(httpx.BaseTransport):
    def __init__(self, path: str):
        self.inner = httpx.HTTPTransport()
        self.path = path
        self.seen: list[tuple[str, str | None]] = []
        self.dropped = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.seen.append((request.url.path, request.headers.get("Idempotency-Key")))
        if request.url.path == self.path and not self.dropped:
            response.read()
            response.close()
            self.dropped += 1
            raise httpx.ReadError("connection dropped after the server answered", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncDropFirstAnswer(httpx.AsyncBaseTransport):
    def __init__(self, path: str):
        self.inner = httpx.AsyncHTTPTransport()
        self.path = path
        self.seen: list[tuple[str, str | None]] = []
        self.dropped = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.seen.append((request.url.path, request.headers.get("Idempotency-Key")))
        if request.url.path == self.path and not self.dropped:
            await response.aread()
            await response.aclose()
            self.dropped += 1
            raise httpx.ReadError("connection dropped after the server answered", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def boxes(mailbox):
    return mailbox(oversight_mode="gated_send", idempotency_window_seconds=0), mailbox(oversight_mode="autonomous")


def held_with_subject(admin_client, box: str, subject: str) -> list[dict]:
    return [m for m in admin_client.list_pending(box)["messages"] if m["subject"] == subject]


def test_sync_send_retried_after_dropped_answer_creates_one_message(server, admin_client, boxes):
    box, other = boxes
    subject = f"Once {secrets.token_hex(3)}"
    transport = DropFirstAnswer("/v1/send_email")
    with MultiMail(api_key=server.admin_key, base_url=server.base, transport=transport, retry_backoff=0, auto_idempotency=True) as c:
        result = c.send_email(sender=box, to=other, subject=subject, body="Exactly once.")
    assert transport.dropped == 1 and len(transport.seen) == 2
    (_, key1), (_, key2) = transport.seen
    assert key1 and key1 == key2
    assert result.duplicate is True and result.status == "pending"
    held = held_with_subject(admin_client, box, subject)
    assert [m["message_id"] for m in held] == [result.message_id]


def test_async_reply_retried_after_dropped_answer_creates_one_message(server, admin_client, boxes):
    box, other = boxes
    first = admin_client.send_email(sender=box, to=other, subject=f"Thread {secrets.token_hex(3)}", body="start")
    admin_client.approve_message(first.message_id)

    async def main():
        transport = AsyncDropFirstAnswer("/v1/reply_email")
        async with AsyncMultiMail(api_key=server.admin_key, base_url=server.base, transport=transport, retry_backoff=0, auto_idempotency=True) as c:
            result = await c.reply_email(first.message_id, body="A reply sent once.", oversight_mode="gated_all")
        return transport, result

    transport, result = asyncio.run(main())
    assert transport.dropped == 1 and [p for p, _ in transport.seen] == ["/v1/reply_email"] * 2
    assert transport.seen[0][1] and transport.seen[0][1] == transport.seen[1][1]
    assert result.duplicate is True
    replies = [m for m in admin_client.get_thread(first.thread_id)["messages"] if m["message_id"] != first.message_id]
    assert [m["message_id"] for m in replies] == [result.message_id]


def test_without_a_key_a_dropped_post_is_not_retried(server, admin_client, boxes):
    """The control: with auto_idempotency off, the client must not retry (it could send twice)."""
    box, other = boxes
    subject = f"NoKey {secrets.token_hex(3)}"
    transport = DropFirstAnswer("/v1/send_email")
    with MultiMail(api_key=server.admin_key, base_url=server.base, transport=transport, retry_backoff=0,
                   auto_idempotency=False) as c:
        with pytest.raises(mm.ConnectionError):
            c.send_email(sender=box, to=other, subject=subject, body="Maybe sent.")
    assert len(transport.seen) == 1 and transport.seen[0][1] is None
    assert len(held_with_subject(admin_client, box, subject)) == 1  # the server did send it, once


def test_get_retried_after_dropped_answer(server, admin_client, boxes):
    box, _ = boxes
    transport = DropFirstAnswer("/v1/list_pending")
    with MultiMail(api_key=server.admin_key, base_url=server.base, transport=transport, retry_backoff=0, auto_idempotency=True) as c:
        assert c.list_pending(box) == {"messages": []}
    assert [p for p, _ in transport.seen] == ["/v1/list_pending"] * 2


def _read_http_message(sock) -> bytes:
    """One whole HTTP/1.1 message (head and a Content-Length body) from `sock`, however the peer
    split it into segments; b"" when the peer closed before sending one."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class ResettingProxy:
    """A TCP proxy in front of the real server that, for the first request naming `path`, passes
    it on, lets the server answer in full, then resets the client's connection (RST, SO_LINGER 0)
    instead of relaying the answer: a real reset on a real socket, after the work was done.

    It relays whole HTTP messages (not single recv() calls), so where the kernel splits a request
    or an answer into segments cannot change what the client sees."""

    def __init__(self, upstream_port: int, path: bytes):
        import socket
        import threading

        self.upstream_port, self.path, self.resets = upstream_port, path, 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client) -> None:
        import socket
        import struct

        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        upstream.settimeout(30)
        client.settimeout(30)
        try:
            while True:
                request = _read_http_message(client)
                if not request:
                    return
                upstream.sendall(request)
                answer = _read_http_message(upstream)
                if self.path in request and not self.resets:
                    self.resets += 1
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return  # closing with linger 0 sends RST
                client.sendall(answer)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self.sock.close()


def test_send_retried_after_a_real_connection_reset_sends_once(server, admin_client, boxes):
    box, other = boxes
    subject = f"Reset {secrets.token_hex(3)}"
    proxy = ResettingProxy(server.http_port, b"POST /v1/send_email")
    try:
        with MultiMail(api_key=server.admin_key, base_url=f"http://127.0.0.1:{proxy.port}", retry_backoff=0,
                       auto_idempotency=True) as c:
            result = c.send_email(sender=box, to=other, subject=subject, body="Exactly once, after a reset.")
    finally:
        proxy.close()
    assert proxy.resets == 1
    assert result.duplicate is True  # the retry found the message the reset request had created
    assert [m["message_id"] for m in held_with_subject(admin_client, box, subject)] == [result.message_id]
