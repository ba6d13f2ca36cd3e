"""`multimail mailboxes create | list`."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..core.access import Principal
from .common import DatabaseUrl, DataDir, JsonOut, context_for, group, out, run

mailboxes_app = group("mailboxes", "Mailboxes.")

@mailboxes_app.command("create")
def mailboxes_create(
    address: str,
    oversight: Annotated[str, typer.Option("--oversight", help="read_only | gated_all | gated_send | monitored | autonomous")] = "gated_send",
    min_oversight: Annotated[Optional[str], typer.Option("--min-oversight", help="The floor per-call overrides may not go below (default: the mode).")] = None,
    display_name: Annotated[str, typer.Option("--display-name")] = "",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a hosted mailbox."""
    from ..services.mailboxes import create_mailbox

    row = run(lambda: create_mailbox(context_for(data_dir, database_url), principal=Principal.local_operator(), address=address,
                                      oversight_mode=oversight, min_oversight=min_oversight, display_name=display_name))
    print(f"Created {row['address']} ({row['mailbox_id']}), oversight {row['oversight_mode']}, floor {row['min_oversight']}.")


@mailboxes_app.command("list")
def mailboxes_list(data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonOut = False) -> None:
    """List mailboxes."""
    from ..services.mailboxes import list_mailboxes

    rows = run(lambda: list_mailboxes(context_for(data_dir, database_url), principal=Principal.local_operator()))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("mailbox_id", "address", "oversight_mode", "min_oversight")
    for r in rows:
        table.add_row(r["mailbox_id"], r["address"], r["oversight_mode"], r["min_oversight"])
    out.print(table)
