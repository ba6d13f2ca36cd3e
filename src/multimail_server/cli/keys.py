"""`multimail keys create | list | revoke`: API keys, made and revoked at the terminal."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..core.access import Principal
from .common import DatabaseUrl, DataDir, JsonOut, context_for, group, out, run

keys_app = group("keys", "API keys.")

@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="agent | approver | admin")],
    mailbox: Annotated[Optional[list[str]], typer.Option("--mailbox", help="Limit the key to this mailbox (repeatable).")] = None,
    name: Annotated[str, typer.Option(help="A name to recognise the key by.")] = "",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key; the key itself is printed alone on the last line."""
    from ..services.keys import create_key

    ctx = context_for(data_dir, database_url)
    created = run(lambda: create_key(ctx, principal=Principal.local_operator(), role=role, mailboxes=mailbox or None, name=name))
    scope = ", ".join(created["mailboxes"]) if created["mailboxes"] else "all mailboxes"
    print(f"Created {created['role']} key {created['key_id']} for {scope}. It is shown only once:")
    print(created["api_key"])


@keys_app.command("list")
def keys_list(data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonOut = False) -> None:
    """List API keys (never their secrets)."""
    from ..services.keys import list_keys

    rows = run(lambda: list_keys(context_for(data_dir, database_url), principal=Principal.local_operator()))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("key_id", "name", "role", "mailboxes", "created_at", "revoked_at")
    for r in rows:
        table.add_row(r["key_id"], r["name"], r["role"], ", ".join(r["mailboxes"] or ["*"]), r["created_at"], r["revoked_at"] or "")
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Revoke an API key at once."""
    from ..services.keys import revoke_key

    run(lambda: revoke_key(context_for(data_dir, database_url), principal=Principal.local_operator(), key_id=key_id))
    print(f"Revoked {key_id}.")
