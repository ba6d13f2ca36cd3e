"""One signed POST to a webhook receiver, per the Standard Webhooks spec.

Headers `webhook-id` (the same on every retry, so receivers de-duplicate), `webhook-timestamp`
and `webhook-signature` (`v1,<base64 HMAC-SHA256>` of `id.timestamp.body`), made by the
`standardwebhooks` package so any Standard Webhooks library verifies them. Redirects are not
followed (a 3xx is a failed attempt), the response body is read only up to a cap, and the request
goes to the address the SSRF guard checked.
"""

from __future__ import annotations

import functools
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from standardwebhooks import Webhook

from .. import __version__
from .ssrf import RefusedAddress, Resolver, check_url, system_resolver

MAX_RESPONSE_BYTES = 64 * 1024
STORED_RESPONSE_CHARS = 2000


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    status_code: int | None
    body: str
    error: str | None
    retry_after: float | None  # seconds, when the receiver asked (429/503 Retry-After)
    duration_ms: int
    refused: bool = False  # the address guard refused the receiver: retrying will not help


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verification context, built once: a new Client loads the CA bundle again,
    which took most of each delivery's time (tens of milliseconds a post)."""
    return httpx.create_ssl_context()


class _Pooled:
    """A pooled client, how many posts are using it, and whether the pool has let it go."""

    __slots__ = ("client", "users", "evicted")

    def __init__(self, client: httpx.Client):
        self.client = client
        self.users = 0
        self.evicted = False


class ClientPool:
    """Kept-alive HTTP clients, one per checked target (scheme, host name, the address the guard
    checked, port), so successive posts to an endpoint reuse its connection instead of opening
    (and for https, handshaking) one each: a new Client per post also set up a connection pool
    and tore it down again. Keyed by the host name too, not by the address alone: a TLS
    connection is verified for one name (SNI), and must not carry requests for another name
    that happens to resolve to the same address. A name that resolves elsewhere later gets a
    client of its own: every post still goes to the address checked for it.

    At most `size` targets; the least recently used leaves the pool. Posts run side by side on
    several threads, so a client is lent (`lease`) rather than handed out: one that leaves the
    pool while a post is still using it is closed when that post gives it back, not under it
    (closing it mid-post failed the post, which then counted as the receiver's failure)."""

    def __init__(self, *, timeout: float, size: int = 32):
        self.timeout = timeout
        self.size = max(1, size)  # a pool of none would close each new client before its post
        self._clients: OrderedDict[tuple, _Pooled] = OrderedDict()
        self._lock = threading.Lock()

    @contextmanager
    def lease(self, target) -> Iterator[httpx.Client]:
        """The target's client, for the duration of the `with` block."""
        key = (target.scheme, target.host, target.address, target.port)
        to_close: list[httpx.Client] = []
        with self._lock:
            entry = self._clients.get(key)
            if entry is not None:
                self._clients.move_to_end(key)
            else:
                entry = _Pooled(httpx.Client(follow_redirects=False, timeout=self.timeout, verify=_tls_context()))
                self._clients[key] = entry
                while len(self._clients) > self.size:
                    _, old = self._clients.popitem(last=False)
                    to_close += self._let_go(old)
            entry.users += 1
        for client in to_close:
            client.close()
        try:
            yield entry.client
        finally:
            with self._lock:
                entry.users -= 1
                last_out = entry.evicted and entry.users == 0
            if last_out:
                entry.client.close()

    @staticmethod
    def _let_go(entry: _Pooled) -> list[httpx.Client]:
        """Out of the pool (under the lock): the client to close now if idle, else none (its
        last user closes it)."""
        entry.evicted = True
        return [entry.client] if entry.users == 0 else []

    def close(self) -> None:
        """Closes the idle clients; one still lent out is closed when it is given back."""
        with self._lock:
            entries, self._clients = list(self._clients.values()), OrderedDict()
            to_close = [c for entry in entries for c in self._let_go(entry)]
        for client in to_close:
            client.close()


def sign_headers(secrets: list[str], msg_id: str, body: str, now: datetime) -> dict[str, str]:
    """Standard Webhooks headers; several secrets (during a rotation) give space-separated signatures."""
    stamp = datetime.fromtimestamp(int(now.timestamp()), tz=UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": " ".join(Webhook(s).sign(msg_id, stamp, body) for s in secrets),
    }


def _pinned(url: str, target) -> tuple[httpx.URL, str, dict]:
    """The URL rewritten to the checked address, the Host header and the TLS SNI to keep the name."""
    parts = httpx.URL(url)
    host_for_url = f"[{target.address}]" if ":" in target.address else target.address
    host_header = parts.host if parts.port is None else f"{parts.host}:{parts.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return parts.copy_with(host=host_for_url), host_header, extensions


def get_checked(url: str, *, allow_private: bool, timeout: float = 5.0, max_bytes: int = MAX_RESPONSE_BYTES,
                resolver: Resolver = system_resolver) -> bytes | None:
    """GET a URL through the same address guard as webhooks (no redirects, capped body);
    None when refused, unreachable or not a 200."""
    try:
        target = check_url(url, allow_private=allow_private, resolver=resolver)
    except RefusedAddress:
        return None
    pinned, host_header, extensions = _pinned(url, target)
    headers = {"host": host_header, "user-agent": f"MultiMail/{__version__}", "accept": "application/json"}
    try:
        with httpx.Client(follow_redirects=False, timeout=timeout, verify=_tls_context()) as client:
            with client.stream("GET", pinned, headers=headers, extensions=extensions) as resp:
                if resp.status_code != 200:
                    return None
                data = b""
                for chunk in resp.iter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        return None
                return data
    except httpx.HTTPError:
        return None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def post_event(
    *,
    url: str,
    secrets: list[str],
    msg_id: str,
    body: str,
    allow_private: bool,
    timeout: float = 10.0,
    resolver: Resolver = system_resolver,
    now: datetime | None = None,
    pool: ClientPool | None = None,
) -> AttemptResult:
    """One signed POST; `pool` keeps the connection for the next post to the same target (a
    client of its own for this post otherwise)."""
    started = time.monotonic()
    now = now or datetime.now(UTC)

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = check_url(url, allow_private=allow_private, resolver=resolver)
    except RefusedAddress as exc:
        return AttemptResult(False, None, "", f"refused: {exc}", None, elapsed(), refused=True)
    pinned, host_header, extensions = _pinned(url, target)
    headers = {
        **sign_headers(secrets, msg_id, body, now),
        "content-type": "application/json",
        "user-agent": f"MultiMail-Webhooks/{__version__}",
        "host": host_header,
    }
    try:
        if pool is None:
            with httpx.Client(follow_redirects=False, timeout=timeout, verify=_tls_context()) as client:
                return _post(client, pinned, body, headers, extensions, now, elapsed)
        with pool.lease(target) as client:
            return _post(client, pinned, body, headers, extensions, now, elapsed, timeout=timeout)
    except httpx.TimeoutException:
        return AttemptResult(False, None, "", f"timeout after {timeout:g}s", None, elapsed())
    except httpx.HTTPError as exc:
        return AttemptResult(False, None, "", f"{type(exc).__name__}: {exc}"[:500], None, elapsed())


def _post(client: httpx.Client, pinned: httpx.URL, body: str, headers: dict, extensions: dict, now: datetime,
          elapsed, *, timeout: float | None = None) -> AttemptResult:
    with client.stream("POST", pinned, content=body.encode("utf-8"), headers=headers, extensions=extensions,
                       timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout) as resp:
        chunks, size = [], 0
        for chunk in resp.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_RESPONSE_BYTES:
                break
        text = b"".join(chunks)[:MAX_RESPONSE_BYTES].decode("utf-8", errors="replace")[:STORED_RESPONSE_CHARS]
        ok = 200 <= resp.status_code < 300
        retry_after = parse_retry_after(resp.headers.get("retry-after"), now) if not ok else None
        error = None if ok else f"HTTP {resp.status_code}"
        return AttemptResult(ok, resp.status_code, text, error, retry_after, elapsed())
