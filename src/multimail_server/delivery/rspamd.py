"""The rspamd client: its HTTP protocol (https://rspamd.com/doc/developers/protocol.html).

`check` asks the normal worker (`POST /checkv2`, port 11333) for a verdict on a message, passing
what the SMTP session knew in rspamd's request headers (From, Rcpt, IP, Helo, Queue-Id). It is
async (the SMTP handler awaits it on the event loop) with a short timeout: the receiver falls back
to the baseline verdict when rspamd is slow or down (services/spam.py), so mail is never lost
because the filter is.

`learn` trains rspamd's classifier through the controller (`POST /learnspam` / `/learnham`, port
11334), from report_spam / not_spam; it runs in the caller's worker thread, outside any database
transaction. An rspamd answer of 208 ("already learned") counts as learned.

Here rather than in mail/ (which does no I/O) or services/ (the use cases): like the SMTP relay
transport, it is a client of an outside system that the services call.
"""

from __future__ import annotations

import json
from typing import Any

import httpx


class RspamdUnavailable(Exception):
    """rspamd did not answer usefully (down, timed out, an error status or not JSON)."""


class RspamdClient:
    def __init__(self, url: str, *, controller_url: str | None = None, password: str | None = None,
                 timeout: float = 5.0, transport: httpx.AsyncBaseTransport | None = None):
        self.url = url.rstrip("/")
        self.controller_url = (controller_url or _controller_for(self.url)).rstrip("/")
        self.password = password
        self.timeout = timeout
        self._transport = transport

    async def check(self, raw: bytes, *, ip: str | None = None, helo: str | None = None, mail_from: str | None = None,
                    rcpts: list[str] | None = None, queue_id: str | None = None) -> dict[str, Any]:
        """rspamd's /checkv2 answer (a dict with score, required_score, action, symbols)."""
        headers = {k: v for k, v in (("IP", ip), ("Helo", helo), ("From", mail_from), ("Queue-Id", queue_id)) if v}
        headers = {k: _header_safe(v) for k, v in headers.items()}
        # Several recipients: one Rcpt header each (httpx sends a list of pairs as repeated headers).
        pairs = list(headers.items()) + [("Rcpt", _header_safe(r)) for r in (rcpts or [])[:100]]
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self._transport) as http:
                answer = await http.post(f"{self.url}/checkv2", content=raw, headers=pairs)
        except httpx.HTTPError as exc:
            raise RspamdUnavailable(f"{type(exc).__name__}: {exc}"[:300]) from None
        return _json_of(answer)

    def learn(self, raw: bytes, *, spam: bool) -> dict[str, Any]:
        """Train the classifier on `raw` as spam or ham: {"learned": bool, "detail": str}.
        Never raises: training is a best effort beside the label the server itself keeps."""
        path = "/learnspam" if spam else "/learnham"
        headers = {"Password": self.password} if self.password else {}
        try:
            with httpx.Client(timeout=self.timeout) as http:
                answer = http.post(self.controller_url + path, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            return {"learned": False, "detail": f"rspamd unreachable: {type(exc).__name__}"}
        if answer.status_code == 208:
            return {"learned": True, "detail": "already learned"}
        if answer.status_code == 200:
            return {"learned": True, "detail": "learned"}
        return {"learned": False, "detail": f"rspamd answered {answer.status_code}: {answer.text[:200]}"}


def _controller_for(url: str) -> str:
    """The controller next to a normal worker: the same host on port 11334."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(port=11334)).rstrip("/")


def _header_safe(value: str) -> str:
    """A header value without CR/LF/NUL (an envelope address is the client's to choose)."""
    return "".join(c for c in str(value) if c not in "\r\n\0")[:998]


def _json_of(answer: httpx.Response) -> dict[str, Any]:
    if answer.status_code != 200:
        raise RspamdUnavailable(f"rspamd answered {answer.status_code}: {answer.text[:200]}")
    try:
        data = answer.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RspamdUnavailable("rspamd's answer is not JSON") from None
    if not isinstance(data, dict) or "error" in data:
        raise RspamdUnavailable(f"rspamd error: {str(data.get('error') if isinstance(data, dict) else data)[:200]}")
    return data
