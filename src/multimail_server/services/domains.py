"""Signing domains: `multimail domains add` creates a DKIM key per domain; outgoing mail whose From
domain has one is DKIM-signed (delivery/signing.py)."""

from __future__ import annotations

import re
from typing import Any

from ..core.access import Principal, Scope, require_scope
from ..core.errors import BadRequest, Conflict, NotFound
from ..mail import dkim
from ..store import domains as domain_q
from .common import iso, record
from .context import Context

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_SELECTOR = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$", re.I)


def normalize_domain(value: str) -> str:
    """Lower-case ASCII (IDNA) form; 400 `invalid_domain` for anything that is not a host name."""
    if not isinstance(value, str):
        raise BadRequest("domain must be a string.", code="invalid_domain", details={"field": "domain"})
    text = value.strip().rstrip(".").lower()
    try:
        ascii_name = text.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = ""
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise BadRequest(f"{value!r} is not a domain name.", code="invalid_domain", details={"field": "domain"})
    return ascii_name


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "domain": row["domain"],
        "selector": row["dkim_selector"],
        "created_at": iso(row["created_at"]),
        "dns_records": dkim.dns_records(row["domain"], row["dkim_selector"], row["dkim_public_key"]),
    }


def add_domain(ctx: Context, *, principal: Principal, domain: str, selector: str | None = None) -> dict[str, Any]:
    """Generate and store an RSA-2048 DKIM key for `domain`; returns the DNS records to publish.
    409 `domain_exists` when the domain already has a key."""
    require_scope(principal.scopes, Scope.ADMIN, "add signing domains")
    name = normalize_domain(domain)
    selector = dkim.DEFAULT_SELECTOR if selector is None else selector.strip()
    if not _SELECTOR.match(selector) or len(selector) > 63:
        raise BadRequest(f"{selector!r} is not a valid DKIM selector (letters, digits, hyphens).",
                         code="invalid_selector", details={"field": "selector"})
    private_pem, public_b64 = dkim.generate_key()  # outside the transaction: it takes a moment
    now = ctx.now()
    row = {"domain": name, "dkim_selector": selector, "dkim_private_key": private_pem,
           "dkim_public_key": public_b64, "created_at": now}
    with ctx.store.write() as tx:
        if domain_q.by_domain(tx, name) is not None:
            raise Conflict(f"{name} already has a DKIM key.", code="domain_exists", details={"domain": name})
        domain_q.insert_domain(tx, row)
        record(tx, at=now, principal=principal, action="domain.added", details={"domain": name, "selector": selector})
    return _view(row)


def list_domains(ctx: Context, *, principal: Principal) -> list[dict[str, Any]]:
    require_scope(principal.scopes, Scope.ADMIN, "list signing domains")
    with ctx.store.read() as tx:
        return [_view(r) for r in domain_q.list_domains(tx)]


def get_domain(ctx: Context, *, principal: Principal, domain: str) -> dict[str, Any]:
    require_scope(principal.scopes, Scope.ADMIN, "read signing domains")
    name = normalize_domain(domain)
    with ctx.store.read() as tx:
        row = domain_q.by_domain(tx, name)
    if row is None:
        raise NotFound(f"No signing domain {name!r}; add it with `multimail domains add {name}`.",
                       code="domain_not_found", details={"domain": name})
    return _view(row)
