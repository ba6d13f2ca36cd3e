"""An in-memory stand-in for the MultiMail API (httpx.MockTransport), for tests that check what
the package sends without a server: it records every request and answers like the server would
for the calls these tests make (a repeated idempotency key gets the first answer)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from prefect_multimail import MultiMailCredentials

from multimail_server.client import AsyncMultiMail, MultiMail


class FakeMultiMail:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.by_key: dict[str, dict[str, Any]] = {}
        self.pending: list[dict[str, Any]] = []
        self.cancel_answers: dict[str, int] = {}  # message_id -> status code to answer cancel_message with
        self.routes: dict[str, Callable[[httpx.Request], httpx.Response]] = {}
        self._n = 0

    # -- what was asked -----------------------------------------------------------------------

    def sent(self, verb: str = "send_email") -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == f"/v1/{verb}"]

    @staticmethod
    def body(request: httpx.Request) -> dict[str, Any]:
        return json.loads(request.content)

    # -- answering ----------------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        verb = request.url.path.removeprefix("/v1/")
        if verb in self.routes:
            return self.routes[verb](request)
        if verb in ("send_email", "reply_email", "decide_email"):
            key = request.headers.get("Idempotency-Key")
            if key is not None and key in self.by_key:
                return httpx.Response(200, json={**self.by_key[key], "duplicate": True})
            self._n += 1
            answer = {"message_id": f"msg_{self._n}", "thread_id": f"thr_{self._n}", "status": "pending",
                      "approval_status": "pending", "oversight_mode": "gated_send", "duplicate": False}
            if key is not None:
                self.by_key[key] = answer
            return httpx.Response(200, json=answer)
        if verb == "list_pending":
            return httpx.Response(200, json={"messages": self.pending})
        if verb == "cancel_message":
            message_id = self.body(request)["message_id"]
            status = self.cancel_answers.get(message_id, 200)
            if status != 200:
                return httpx.Response(status, json={"error": {"code": "invalid_state", "message": "not pending", "details": {}}})
            return httpx.Response(200, json={"message_id": message_id, "status": "cancelled"})
        return httpx.Response(404, json={"error": {"code": "not_found", "message": f"no route {verb}", "details": {}}})

    def install(self, monkeypatch) -> None:
        """Make every MultiMailCredentials hand out clients that talk to this fake."""
        fake = self

        def get_client(self, **kwargs: Any) -> MultiMail:
            return MultiMail(api_key=self.resolved_api_key(), base_url=self.resolved_base_url(),
                             transport=httpx.MockTransport(fake), retry_backoff=0)

        def get_async_client(self, **kwargs: Any) -> AsyncMultiMail:
            return AsyncMultiMail(api_key=self.resolved_api_key(), base_url=self.resolved_base_url(),
                                  transport=httpx.MockTransport(fake), retry_backoff=0)

        monkeypatch.setattr(MultiMailCredentials, "get_client", get_client)
        monkeypatch.setattr(MultiMailCredentials, "get_async_client", get_async_client)
