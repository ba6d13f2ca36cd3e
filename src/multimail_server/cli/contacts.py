"""`multimail contacts add | list | delete`: a mailbox's address book from the terminal. The
command acts as the operator (an admin), so the contacts it adds are approved: they count for
the mailbox's `contacts_only`."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..core.access import Principal
from .common import DatabaseUrl, DataDir, JsonOut, context_for, group, out, run

contacts_app = group("contacts", "A mailbox's address book.")


@contacts_app.command("add")
def contacts_add(
    mailbox: str,
    email: str,
    name: Annotated[Optional[str], typer.Option("--name", help="The contact's name.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", help="A tag (repeat for several).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add (or update and approve) a contact of MAILBOX."""
    from ..services.contacts import add_contact

    done = run(lambda: add_contact(context_for(data_dir, database_url), principal=Principal.local_operator(), mailbox=mailbox,
                                   email=email, name=name, tags=tag))
    c = done["contact"]
    print(f"{'Added' if done['created'] else 'Updated'} {c['email']} ({c['contact_id']}) to {c['mailbox']}, approved.")


@contacts_app.command("list")
def contacts_list(
    mailbox: Annotated[Optional[str], typer.Option("--mailbox", help="Only this mailbox's contacts.")] = None,
    query: Annotated[Optional[str], typer.Option("--query", "-q", help="Part of a name or address.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """List contacts (the first 100 matching)."""
    from ..services.contacts import search_contacts

    rows = run(lambda: search_contacts(context_for(data_dir, database_url), principal=Principal.local_operator(), mailbox=mailbox,
                                       query=query, limit=100))["contacts"]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("contact_id", "mailbox", "email", "name", "tags", "approved")
    for r in rows:
        table.add_row(r["contact_id"], r["mailbox"], r["email"], r["name"], ", ".join(r["tags"]), "yes" if r["approved"] else "no")
    out.print(table)


@contacts_app.command("delete")
def contacts_delete(contact_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Delete a contact."""
    from ..services.contacts import delete_contact

    done = run(lambda: delete_contact(context_for(data_dir, database_url), principal=Principal.local_operator(), contact_id=contact_id))
    print(f"Deleted {done['contact']['email']} from {done['contact']['mailbox']}.")
