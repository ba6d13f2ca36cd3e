"""Queries for signing domains (DKIM keys) and the server's own keys (the identity signing key)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select

from .tables import domains, server_keys


def insert_domain(tx: Connection, row: dict[str, Any]) -> None:
    tx.execute(insert(domains).values(**row))


def by_domain(tx: Connection, domain: str) -> dict[str, Any] | None:
    row = tx.execute(select(domains).where(domains.c.domain == domain)).mappings().first()
    return dict(row) if row else None


def list_domains(tx: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in tx.execute(select(domains).order_by(domains.c.domain)).mappings()]


def insert_server_key(tx: Connection, row: dict[str, Any]) -> None:
    tx.execute(insert(server_keys).values(**row))


def server_key(tx: Connection, kid: str) -> dict[str, Any] | None:
    row = tx.execute(select(server_keys).where(server_keys.c.id == kid)).mappings().first()
    return dict(row) if row else None


def server_keys_of_kind(tx: Connection, kind: str) -> list[dict[str, Any]]:
    """Oldest first; the first is the one in use (a second can only appear from a creation race)."""
    rows = tx.execute(select(server_keys).where(server_keys.c.kind == kind).order_by(server_keys.c.created_at, server_keys.c.id))
    return [dict(r) for r in rows.mappings()]
