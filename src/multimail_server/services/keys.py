"""API keys: create, authenticate, list, revoke; and the first admin key on an empty server."""

from __future__ import annotations

from typing import Any

from ..core.access import ROLE_SCOPES, Principal, Role, Scope, require_scope, validate_scopes
from ..core.addresses import normalize_mailbox_address
from ..core.errors import BadRequest, NotFound, Unauthorized
from ..core.ids import API_KEY_PREFIX, hash_api_key, new_api_key, new_id
from ..store import keys as key_q
from ..store import mailboxes as mailbox_q
from .common import record
from .context import Context
from .rate_limits import RateLimits
from .views import key_view


def create_key(
    ctx: Context,
    *,
    principal: Principal,
    role: str | None = None,
    scopes: list[str] | None = None,
    mailboxes: list[str] | None = None,
    name: str = "",
    only_if_none_exist: bool = False,
) -> dict[str, Any] | None:
    """Create a key by role (agent/approver/admin) or by explicit scopes; returns the secret once.
    With `only_if_none_exist`, nothing is created (None) when any active key exists, decided in
    the same transaction, so servers starting together create one first key between them."""
    require_scope(principal.scopes, Scope.ADMIN, "create API keys")
    if (role is None) == (scopes is None):
        raise BadRequest("Give either role or scopes.", code="invalid_request", details={"field": "role"})
    if role is not None:
        try:
            granted = ROLE_SCOPES[Role(role)]
        except ValueError:
            raise BadRequest(
                "role must be agent, approver or admin.",
                code="invalid_role",
                details={"field": "role", "allowed": [r.value for r in Role]},
            ) from None
    else:
        granted = validate_scopes(scopes or [])
    if mailboxes is not None and not mailboxes:
        # An empty list must not fall through to "every mailbox" (None).
        raise BadRequest(
            "mailboxes must name at least one mailbox; leave it out for a key that acts for every mailbox.",
            code="invalid_field",
            details={"field": "mailboxes"},
        )
    addresses = sorted({normalize_mailbox_address(a) for a in mailboxes}) if mailboxes is not None else None
    if principal.mailboxes is not None:
        # A scoped admin can only hand out what it has itself.
        if addresses is None or not set(addresses) <= principal.mailboxes:
            raise BadRequest(
                "A key scoped to mailboxes can only create keys for those mailboxes.",
                code="mailbox_scope_exceeded",
                details={"field": "mailboxes"},
            )
    if not isinstance(name, str) or len(name) > 200:
        raise BadRequest("name must be a string of at most 200 characters.", code="invalid_field", details={"field": "name"})
    if addresses is not None:
        with ctx.store.read() as tx:
            missing = sorted(set(addresses) - set(mailbox_q.addresses_in(tx, addresses)))
        if missing:
            # A key for a mailbox that does not exist is a typo waiting to surface as 404s later.
            raise NotFound(f"No mailbox {', '.join(missing)}: create it first (create_mailbox).",
                           code="mailbox_not_found", details={"field": "mailboxes", "missing": missing})
    secret = new_api_key()
    now = ctx.now()
    row = {
        "id": new_id("key"),
        "name": name,
        "key_hash": hash_api_key(secret),
        "key_prefix": secret[: len(API_KEY_PREFIX) + 4],
        "scopes": sorted(s.value for s in granted),
        "mailboxes": addresses,
        "created_at": now,
        "created_by": principal.label,
        "revoked_at": None,
    }
    with ctx.store.write() as tx:
        if only_if_none_exist:
            key_q.lock_for_first_key(tx)  # serialise the check with other starters
            if key_q.count_active(tx) > 0:
                return None
        key_q.insert_key(tx, row)
        record(tx, at=now, principal=principal, action="api_key.created", details=key_view(row))
    return {**key_view(row), "api_key": secret}


def authenticate(ctx: Context, authorization: str | None) -> Principal:
    """The principal for an `Authorization: Bearer <key>` header, or 401."""
    if not authorization:
        raise Unauthorized("Missing Authorization header; send 'Authorization: Bearer <api key>'.", code="missing_api_key")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Authorization must be 'Bearer <api key>'.", code="invalid_authorization")
    with ctx.store.read() as tx:
        row = key_q.by_hash(tx, hash_api_key(token))
    if row is None or row["revoked_at"] is not None:
        raise Unauthorized("Unknown or revoked API key.", code="invalid_api_key")
    return Principal(
        key_id=row["id"],
        scopes=frozenset(Scope(s) for s in row["scopes"]),
        mailboxes=frozenset(row["mailboxes"]) if row["mailboxes"] is not None else None,
    )


def authenticate_from(ctx: Context, authorization: str | None, *, limits: RateLimits, ip: str) -> Principal:
    """`authenticate`, for a key presented from `ip`, under the wrong-key budget per IP that every
    interface taking an API key applies (the API and /mcp through api/deps.py, the dashboard's
    sign-in), so keys cannot be guessed through any of them: an IP that has sent
    `rate_limit_auth_failures` wrong keys gets 429 even for a right one, and each wrong key spends
    that budget. No key at all spends the IP's key-less budget instead (a client that forgot the
    header is not guessing)."""
    limits.check(limits.auth_failures, ip)
    try:
        return authenticate(ctx, authorization)
    except Unauthorized:
        limits.hit(limits.per_ip if not authorization else limits.auth_failures, ip)
        raise


def list_keys(ctx: Context, *, principal: Principal) -> list[dict[str, Any]]:
    require_scope(principal.scopes, Scope.ADMIN, "list API keys")
    with ctx.store.read() as tx:
        rows = key_q.list_keys(tx)
    if principal.mailboxes is not None:
        rows = [r for r in rows if r["mailboxes"] is not None and set(r["mailboxes"]) <= principal.mailboxes]
    return [key_view(r) for r in rows]


def revoke_key(ctx: Context, *, principal: Principal, key_id: str) -> dict[str, Any]:
    require_scope(principal.scopes, Scope.ADMIN, "revoke API keys")
    now = ctx.now()
    with ctx.store.write() as tx:
        row = key_q.by_id(tx, key_id)
        visible = row is not None and (
            principal.mailboxes is None or (row["mailboxes"] is not None and set(row["mailboxes"]) <= principal.mailboxes)
        )
        if not visible:
            raise NotFound(f"No API key {key_id!r}.", code="api_key_not_found", details={"key_id": key_id})
        key_q.revoke(tx, key_id)
        row = key_q.by_id(tx, key_id)
        assert row is not None  # found above, in this transaction
        record(tx, at=now, principal=principal, action="api_key.revoked", details={"key_id": key_id})
    return key_view(row)


def ensure_first_admin_key(ctx: Context) -> str | None:
    """On a server with no keys at all, create an admin key and return its secret (printed once)."""
    with ctx.store.read() as tx:
        if key_q.count_active(tx) > 0:
            return None
    created = create_key(ctx, principal=Principal.local_operator(), role=Role.ADMIN.value, name="first admin key",
                         only_if_none_exist=True)
    return created["api_key"] if created else None
