"""What the sync and async clients share: configuration, request building, the retry policy and
turning answers into results or typed errors. No I/O happens here."""

from __future__ import annotations

import email.utils
import os
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import httpx

from multimail_server import __version__

from .errors import ConnectionError as MMConnectionError
from .errors import MultiMailError, error_for_status

DEFAULT_BASE_URL = "http://127.0.0.1:8025"
ENV_API_KEY = "MULTIMAIL_API_KEY"
ENV_BASE_URL = "MULTIMAIL_BASE_URL"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_RETRY_BACKOFF = 0.5  # seconds before the first retry; doubles each time, with jitter
MAX_BACKOFF = 8.0
MAX_RETRY_AFTER = 60.0  # a Retry-After longer than this is raised, not slept through
USER_AGENT = f"multimail-python/{__version__}"
LONG_POLL_MARGIN = 10.0  # seconds a long-poll's read timeout exceeds its `wait`

# The request never reached the server: retrying is safe for any call.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The request may have reached the server: retry only idempotent calls.
_MAYBE_SENT = (httpx.TransportError,)
_RETRY_STATUSES = frozenset({500, 502, 503, 504})


def new_idempotency_key() -> str:
    """A fresh key for one logical call (``mmc-`` + 32 hex digits), reused by all its retries."""
    return f"mmc-{uuid.uuid4().hex}"


def when_text(value: Any) -> str | None:
    """A time for the API: an ISO 8601 string as given, a ``datetime`` in ISO 8601 (a naive one
    keeps no offset, and the server refuses it rather than guess its time zone)."""
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()


def compact(**fields: Any) -> dict[str, Any]:
    """The fields that were given (``None`` means "not given": the server applies its default)."""
    return {k: v for k, v in fields.items() if v is not None}


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def query(**params: Any) -> dict[str, Any]:
    return {k: _query_value(v) for k, v in params.items() if v is not None}


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class Call:
    """One logical API call; every retry of it sends exactly the same request."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    content: bytes | None = None  # a raw body instead of JSON (verify_message)
    headers: dict[str, str] = field(default_factory=dict)
    idempotent: bool = False
    raw: bool = False  # return the bytes instead of decoded JSON
    timeout: Any = None  # this call's own timeout (a long-poll's); the client's when None


class BaseClient:
    """Configuration and policy shared by :class:`MultiMail` and :class:`AsyncMultiMail`."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        transport: Any = None,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        auto_idempotency: bool = False,
        headers: Mapping[str, str] | None = None,
    ):
        self.api_key = api_key if api_key is not None else (os.environ.get(ENV_API_KEY) or None)
        url = base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
        url = url.rstrip("/")
        if url.endswith("/v1"):  # accept the API root as well as the server root
            url = url[: -len("/v1")]
        self.base_url = url
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.auto_idempotency = auto_idempotency
        self._timeout = timeout
        self._transport = transport
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
        if self.api_key:
            self._headers["Authorization"] = f"Bearer {self.api_key}"

    def __repr__(self) -> str:
        key = f"{self.api_key[:12]}…" if self.api_key else None
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key={key!r})"

    # -- building calls -----------------------------------------------------------------------

    @staticmethod
    def _get_call(verb: str, **params: Any) -> Call:
        return Call("GET", f"/v1/{verb}", params=query(**params), idempotent=True)

    @staticmethod
    def _post_call(verb: str, body: dict[str, Any]) -> Call:
        return Call("POST", f"/v1/{verb}", json=body)

    def _waiting_get_call(self, verb: str, wait: float | None, **params: Any) -> Call:
        """A GET the server may hold for up to ``wait`` seconds (long-poll): its read timeout is
        stretched past ``wait`` so the client never gives up before the server answers."""
        call = self._get_call(verb, wait=wait, **params)
        if wait:
            call.timeout = self._timeout_beyond(float(wait))
        return call

    def _timeout_beyond(self, wait: float) -> Any:
        floor = wait + LONG_POLL_MARGIN
        current = self._timeout
        if current is None:
            return None
        if isinstance(current, httpx.Timeout):
            if current.read is None or current.read >= floor:
                return current
            return httpx.Timeout(connect=current.connect, read=floor, write=current.write, pool=current.pool)
        return max(float(current), floor)

    def _sending_call(self, verb: str, body: dict[str, Any], idempotency_key: str | None) -> Call:
        """send/reply/decide: with an idempotency key (the caller's, or a fresh one per call when
        ``auto_idempotency``) a retried request can never create a second message."""
        key = idempotency_key if idempotency_key is not None else (new_idempotency_key() if self.auto_idempotency else None)
        call = Call("POST", f"/v1/{verb}", json=body)
        if key is not None:
            call.headers["Idempotency-Key"] = key
            call.idempotent = True
        return call

    # -- policy -------------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        base = min(MAX_BACKOFF, self.retry_backoff * (2 ** attempt))
        return base * (0.5 + random.random() / 2)

    def _retry_delay_for_response(self, call: Call, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying after this answer, or None to give up."""
        if attempt >= self.max_retries:
            return None
        status = response.status_code
        # the API reference: a refused request changes nothing, so a 429 is safe to retry for any call.
        if status == 429 or (status in _RETRY_STATUSES and call.idempotent):
            after = parse_retry_after(response.headers.get("Retry-After"))
            if after is not None:
                return after if after <= MAX_RETRY_AFTER else None
            return self._backoff(attempt)
        return None

    def _retry_delay_for_error(self, call: Call, exc: httpx.TransportError, attempt: int) -> float | None:
        if attempt >= self.max_retries:
            return None
        if isinstance(exc, _NOT_SENT) or (call.idempotent and isinstance(exc, _MAYBE_SENT)):
            return self._backoff(attempt)
        return None

    # -- answers ------------------------------------------------------------------------------

    @staticmethod
    def _connection_error(call: Call, exc: httpx.TransportError) -> MMConnectionError:
        code = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection_error"
        return MMConnectionError(None, code, f"{call.method} {call.path}: {type(exc).__name__}: {exc}".rstrip(": "))

    @staticmethod
    def _result(call: Call, response: httpx.Response) -> Any:
        """The decoded answer, or the typed error raised."""
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            raise error_for_status(response.status_code, body, retry_after=parse_retry_after(response.headers.get("Retry-After")),
                                   text=response.text)
        if call.raw:
            return response.content
        try:
            return response.json()
        except ValueError as exc:
            raise MultiMailError(response.status_code, "invalid_response",
                                 f"{call.method} {call.path} answered {response.status_code} with a body that is not JSON.") from exc
