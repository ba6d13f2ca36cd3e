"""Request building, error mapping and the retry policy, against httpx.MockTransport (no server)."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC

import httpx
import pytest

import multimail_server.client as mm
from multimail_server.client import AsyncMultiMail, MultiMail
from multimail_server.client.errors import error_for_status

SEND = {"message_id": "msg_1", "thread_id": "thr_1", "status": "pending", "approval_status": "pending",
        "oversight_mode": "gated_send", "duplicate": False}


class Script:
    """A MockTransport handler that answers from a list of (status, body | exception) and records requests."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        status, body, *headers = answer
        kwargs = {"json": body} if not isinstance(body, str) else {"text": body}
        return httpx.Response(status, headers=headers[0] if headers else None, **kwargs)

    def client(self, **kw) -> MultiMail:
        return MultiMail(api_key="mm_live_test", base_url="http://mm.test", transport=httpx.MockTransport(self), retry_backoff=0, **kw)

    def async_client(self, **kw) -> AsyncMultiMail:
        return AsyncMultiMail(api_key="mm_live_test", base_url="http://mm.test", transport=httpx.MockTransport(self), retry_backoff=0, **kw)


def err(code: str, status: int = 400, **details):
    return (status, {"error": {"code": code, "message": f"{code} happened.", "details": details}})


def test_send_email_request_shape():
    s = Script((200, SEND))
    result = s.client().send_email(sender="Agent <a@acme.test>", to=["b@x.test"], subject="Hi", body="Hello",
                                   cc="c@x.test", attachments=[mm.attachment("r.csv", b"a,b\n")], metadata={"run": "1"},
                                   oversight_mode="gated_all")
    assert result == mm.SendResult("msg_1", "thr_1", "pending", "pending", "gated_send", False)
    assert result.is_pending and result.raw["duplicate"] is False
    req = s.requests[0]
    assert req.method == "POST" and req.url.path == "/v1/send_email"
    assert req.headers["Authorization"] == "Bearer mm_live_test"
    assert "Idempotency-Key" not in req.headers  # the server's window de-duplicates by default
    body = json.loads(req.content)
    assert body == {"from": "Agent <a@acme.test>", "to": ["b@x.test"], "subject": "Hi", "body": "Hello", "cc": "c@x.test",
                    "attachments": [{"filename": "r.csv", "content_type": "text/csv", "content_base64": base64.b64encode(b"a,b\n").decode()}],
                    "metadata": {"run": "1"}, "oversight_mode": "gated_all"}
    assert "sender" not in body and "idempotency_key" not in body


def test_explicit_idempotency_key_is_sent_as_header_and_each_call_gets_its_own():
    s = Script((200, SEND))
    c = s.client(auto_idempotency=True)
    c.send_email(sender="a@acme.test", to="b@x.test", subject="s", body="b", idempotency_key="run-42")
    c.send_email(sender="a@acme.test", to="b@x.test", subject="s", body="b")
    c.send_email(sender="a@acme.test", to="b@x.test", subject="s", body="b")
    keys = [r.headers.get("Idempotency-Key") for r in s.requests]
    assert keys[0] == "run-42" and keys[1] != keys[2] and all(k.startswith("mmc-") for k in keys[1:])
    MultiMail(transport=httpx.MockTransport(s), auto_idempotency=False).send_email(sender="a@acme.test", to="b", subject="s", body="b")
    assert "Idempotency-Key" not in s.requests[-1].headers


def test_get_params_are_encoded():
    from datetime import datetime, timezone

    s = Script((200, {"messages": [], "next_cursor": None}))
    s.client().check_inbox("a@acme.test", unread=False, since=datetime(2024, 1, 2, tzinfo=UTC), limit=5)
    params = dict(s.requests[0].url.params)
    assert params == {"mailbox": "a@acme.test", "unread": "false", "since": "2024-01-02T00:00:00+00:00", "limit": "5"}


@pytest.mark.parametrize("status,cls", [
    (400, mm.BadRequest), (401, mm.AuthenticationError), (403, mm.PermissionDenied), (404, mm.NotFound),
    (409, mm.Conflict), (413, mm.PayloadTooLarge), (422, mm.UnprocessableEntity), (429, mm.RateLimited),
    (500, mm.ServerError), (503, mm.ServerError), (405, mm.MultiMailError),
])
def test_status_maps_to_error_class(status, cls):
    e = error_for_status(status, {"error": {"code": "some_code", "message": "Some message.", "details": {"field": "to"}}})
    assert type(e) is cls and isinstance(e, mm.MultiMailError)
    assert (e.status, e.code, e.message, e.details) == (status, "some_code", "Some message.", {"field": "to"})
    assert str(e) == f"{status} some_code: Some message."


def test_error_body_not_in_api_shape():
    s = Script((502, "<html>Bad gateway</html>"))
    with pytest.raises(mm.ServerError) as info:
        s.client(max_retries=0).list_mailboxes()
    assert info.value.code == "http_502" and "Bad gateway" in info.value.message


def test_get_is_retried_on_5xx_then_succeeds():
    s = Script(err("unavailable", 503), (200, {"mailboxes": []}))
    assert s.client().list_mailboxes() == {"mailboxes": []}
    assert len(s.requests) == 2


def test_get_gives_up_after_max_retries():
    s = Script(err("internal_error", 500))
    with pytest.raises(mm.ServerError):
        s.client(max_retries=3).read_email("msg_1")
    assert len(s.requests) == 4


def test_post_without_key_is_not_retried_on_5xx_or_read_error():
    s = Script(err("internal_error", 500))
    with pytest.raises(mm.ServerError):
        s.client().approve_message("msg_1")
    assert len(s.requests) == 1
    s = Script(httpx.ReadError("dropped"))
    with pytest.raises(mm.ConnectionError) as info:
        s.client().approve_message("msg_1")
    assert len(s.requests) == 1 and info.value.status is None and info.value.code == "connection_error"
    assert isinstance(info.value.__cause__, httpx.ReadError)


def test_post_is_retried_when_the_request_never_left():
    s = Script(httpx.ConnectError("refused"), (200, {"message_id": "msg_1", "approval_status": "approved"}))
    assert s.client().approve_message("msg_1")["approval_status"] == "approved"
    assert len(s.requests) == 2


@pytest.mark.parametrize("verb", ["send_email", "reply_email", "decide_email"])
def test_sending_calls_retry_with_the_same_idempotency_key(verb):
    s = Script(err("internal_error", 502), httpx.ReadTimeout("slow"), (200, SEND))
    c = s.client(auto_idempotency=True)
    if verb == "send_email":
        r = c.send_email(sender="a@acme.test", to="b@x.test", subject="s", body="b")
    elif verb == "reply_email":
        r = c.reply_email("msg_0", body="b")
    else:
        r = c.decide_email(sender="a@acme.test", to="b@x.test", question="q?", options=["yes", "no"])
    assert r.message_id == "msg_1" and len(s.requests) == 3
    keys = {req.headers["Idempotency-Key"] for req in s.requests}
    assert len(keys) == 1
    assert len({req.content for req in s.requests}) == 1


def test_rate_limited_is_retried_then_raised_with_retry_after():
    s = Script((429, {"error": {"code": "rate_limited", "message": "Slow down.", "details": {}}}, {"Retry-After": "0"}))
    with pytest.raises(mm.RateLimited) as info:
        s.client(max_retries=2).approve_message("msg_1")  # a refused request changed nothing: safe to retry
    assert len(s.requests) == 3 and info.value.retry_after == 0.0 and info.value.code == "rate_limited"
    s = Script((429, {"error": {"code": "rate_limited", "message": "Slow down.", "details": {}}}, {"Retry-After": "3600"}))
    with pytest.raises(mm.RateLimited) as info:
        s.client().list_mailboxes()
    assert len(s.requests) == 1 and info.value.retry_after == 3600.0


def test_timeout_maps_to_connection_error():
    s = Script(httpx.ReadTimeout("slow"))
    with pytest.raises(mm.APIConnectionError) as info:
        s.client(max_retries=1).list_mailboxes()
    assert info.value.code == "timeout" and len(s.requests) == 2


def test_env_fallback_and_base_url_forms(monkeypatch):
    monkeypatch.setenv("MULTIMAIL_API_KEY", "mm_live_fromenv")
    monkeypatch.setenv("MULTIMAIL_BASE_URL", "http://env.test:9999/v1/")
    s = Script((200, {"status": "ok"}))
    c = MultiMail(transport=httpx.MockTransport(s))
    c.health()
    assert str(s.requests[0].url) == "http://env.test:9999/health"
    assert s.requests[0].headers["Authorization"] == "Bearer mm_live_fromenv"
    assert "fromenv" not in repr(c)[-8:]
    monkeypatch.delenv("MULTIMAIL_API_KEY")
    monkeypatch.delenv("MULTIMAIL_BASE_URL")
    c = MultiMail()
    assert c.base_url == "http://127.0.0.1:8025" and c.api_key is None
    c.close()


def test_async_client_retries_and_maps_errors():
    async def main():
        s = Script(err("unavailable", 503), (200, SEND))
        async with s.async_client(auto_idempotency=True) as c:
            r = await c.send_email(sender="a@acme.test", to="b@x.test", subject="s", body="b")
        assert r.message_id == "msg_1" and len(s.requests) == 2
        assert s.requests[0].headers["Idempotency-Key"] == s.requests[1].headers["Idempotency-Key"]
        s = Script(err("message_not_found", 404))
        async with s.async_client() as c:
            with pytest.raises(mm.NotFound) as info:
                await c.read_email("msg_x")
        assert info.value.code == "message_not_found" and len(s.requests) == 1

    asyncio.run(main())


def test_iter_inbox_follows_next_cursor_offline():
    pages = {None: {"messages": [{"message_id": "m3"}, {"message_id": "m2"}], "next_cursor": "c1"},
             "c1": {"messages": [{"message_id": "m1"}], "next_cursor": None}}
    seen = []

    def handler(request):
        cursor = request.url.params.get("cursor")
        seen.append((cursor, request.url.params.get("limit")))
        return httpx.Response(200, json=pages[cursor])

    c = MultiMail(transport=httpx.MockTransport(handler))
    assert [m["message_id"] for m in c.iter_inbox("a@acme.test", page_size=2)] == ["m3", "m2", "m1"]
    assert seen == [(None, "2"), ("c1", "2")]


def test_attachment_helper(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    a = mm.attachment(str(p))
    assert a == {"filename": "notes.txt", "content_type": "text/plain", "content_base64": base64.b64encode(b"hello").decode()}
    assert mm.attachment("x.bin", "é")["content_base64"] == base64.b64encode("é".encode()).decode()
    assert mm.attachment("blob", b"\x00", "image/png")["content_type"] == "image/png"


def test_iter_inbox_stops_on_a_repeated_cursor():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(200, json={"messages": [{"message_id": "m"}], "next_cursor": "same"})

    c = MultiMail(transport=httpx.MockTransport(handler))
    assert len(list(c.iter_inbox("a@acme.test"))) == 2 and len(calls) == 2
