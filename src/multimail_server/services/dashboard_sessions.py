"""Dashboard sessions: an API key signs a human in once; a signed cookie carries them after.

Why a signed cookie and no session table: nothing to migrate, nothing to clean up, and the one
property that matters still holds — a session dies with its key. The cookie names the key by id,
with a fingerprint of the key's stored hash and an expiry, all under an HMAC; every request
looks the key up again (`principal_for_session`), so a revoked key (or a key id reused by another
key) ends every session at its next request. The API key itself never reaches the cookie.

Only humans sign in: a key without the `oversight` scope (an agent key) is refused, since the
dashboard exists to approve, and an agent must never approve its own mail.

CSRF tokens are an HMAC of the session's nonce (bound to one session: a token from another
session, or from before a sign-out, does not work). The sign-in form, which has no session yet,
gets a token bound to a short-lived pre-session nonce cookie instead (no login CSRF).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from ..core.access import Principal, Scope
from ..core.errors import Forbidden, Unauthorized
from ..store import keys as key_q
from . import decision_links
from .common import record
from .context import Context
from .keys import authenticate_from
from .rate_limits import RateLimits

SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Session:
    """A verified session: who, until when, and the nonce its CSRF token is bound to."""

    principal: Principal
    nonce: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_SECRETS: dict[int, tuple[object, bytes]] = {}


def _secret(ctx: Context) -> bytes:
    """The sessions' HMAC key, derived from the server's persistent link secret (so sessions
    survive a restart and are shared by every process on one database), under its own label so
    no session MAC can ever pass for a decision link's, or the other way round. The link secret
    never changes once made, so it is read once per store."""
    known = _SECRETS.get(id(ctx.store))
    if known is not None and known[0] is ctx.store:
        return known[1]
    key = hmac.new(decision_links.secret(ctx), b"multimail dashboard session v1", hashlib.sha256).digest()
    _SECRETS[id(ctx.store)] = (ctx.store, key)
    return key


def _mac(key: bytes, *parts: str) -> str:
    return _b64(hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).digest())


def _fingerprint(key: bytes, key_hash: str) -> str:
    return _mac(key, "key", key_hash)[:22]


def _principal(row: dict) -> Principal:
    """The principal of a stored key row, built as services/keys.authenticate builds it."""
    return Principal(key_id=row["id"], scopes=frozenset(Scope(s) for s in row["scopes"]),
                     mailboxes=frozenset(row["mailboxes"]) if row["mailboxes"] is not None else None)


def sign_in(ctx: Context, api_key: str, *, limits: RateLimits, ip: str) -> tuple[Session, str]:
    """Check an API key presented from `ip` (the API's own authentication, under its wrong-key
    budget: services/keys.authenticate_from) and open a session: (session, cookie value). 401 for
    an unknown or revoked key, 403 for a key that may not approve, 429 for an IP that sent too many
    wrong keys."""
    api_key = (api_key or "").strip()
    principal = authenticate_from(ctx, f"Bearer {api_key}" if api_key else None, limits=limits, ip=ip)
    if not principal.has(Scope.OVERSIGHT):
        raise Forbidden("This is an agent key: agents cannot sign in to the dashboard, where mail is approved. "
                        "Sign in with an approver or admin key.", code="agent_key_refused")
    key = _secret(ctx)
    with ctx.store.write() as tx:
        row = key_q.by_id(tx, principal.key_id or "")
        assert row is not None  # authenticated just now
        record(tx, at=ctx.now(), principal=principal, action="dashboard.signed_in", details={"key_id": principal.key_id})
    nonce = secrets.token_urlsafe(18)
    expires = int(time.time()) + SESSION_SECONDS
    payload = _b64(json.dumps({"k": row["id"], "f": _fingerprint(key, row["key_hash"]), "n": nonce, "e": expires},
                              separators=(",", ":")).encode())
    return Session(principal, nonce, expires), f"{payload}.{_mac(key, 'session', payload)}"


def principal_for_session(ctx: Context, cookie: str | None) -> Session:
    """The session a cookie carries, checked against the key as it is now; 401 otherwise."""
    expired = Unauthorized("Your session has ended; sign in again.", code="session_ended")
    if not cookie or "." not in cookie or len(cookie) > 1024:
        raise expired
    payload, _, mac = cookie.partition(".")
    key = _secret(ctx)
    if not hmac.compare_digest(mac, _mac(key, "session", payload)):
        raise expired
    try:
        data = json.loads(_unb64(payload))
        key_id, fingerprint, nonce, expires = str(data["k"]), str(data["f"]), str(data["n"]), int(data["e"])
    except (ValueError, KeyError, TypeError):
        raise expired from None
    if expires < time.time():
        raise expired
    with ctx.store.read() as tx:
        row = key_q.by_id(tx, key_id)
    if row is None or row["revoked_at"] is not None or not hmac.compare_digest(fingerprint, _fingerprint(key, row["key_hash"])):
        raise expired
    principal = _principal(row)
    if not principal.has(Scope.OVERSIGHT):  # a key's scopes never change, but never let an agent in
        raise expired
    return Session(principal, nonce, expires)


def csrf_token(ctx: Context, nonce: str) -> str:
    """The CSRF token of a session (or of a sign-in form's pre-session nonce)."""
    return _mac(_secret(ctx), "csrf", nonce)


def csrf_ok(ctx: Context, nonce: str | None, token: str | None) -> bool:
    return bool(nonce) and bool(token) and hmac.compare_digest(str(token), csrf_token(ctx, str(nonce)))
