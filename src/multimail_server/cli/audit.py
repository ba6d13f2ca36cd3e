"""`multimail audit verify | export`: the hash-chained audit trail."""

from __future__ import annotations

import sys
from datetime import UTC
from typing import Annotated, Optional

import typer

from .common import DatabaseUrl, DataDir, context_for, err, group

audit_app = group("audit", "The hash-chained audit trail.")

def _when(value: str | None, option: str):
    if value is None:
        return None
    from datetime import datetime

    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        err.print(f"[red]error[/red] {option} must be an ISO 8601 date or time, e.g. 2026-11-26T00:00:00Z")
        raise typer.Exit(2) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Check the whole chain; exits 1 and names the first bad event if anything was edited,
    inserted or deleted."""
    from ..services.audit_chain import verify

    result = verify(context_for(data_dir, database_url))
    if result["ok"]:
        print(f"audit trail intact: {result['events']} events")
        return
    err.print(f"[red]audit trail broken[/red] at event seq={result['first_bad_seq']} id={result['first_bad_event_id']}: "
              f"{result['reason']} ({result['events_checked']} events checked)")
    raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    since: Annotated[Optional[str], typer.Option(help="Only events at or after this time (ISO 8601).")] = None,
    until: Annotated[Optional[str], typer.Option(help="Only events before this time (ISO 8601).")] = None,
    format: Annotated[str, typer.Option("--format", help="jsonl (one JSON object per line).")] = "jsonl",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write audit events as JSON Lines to stdout, oldest first, with their chain hashes."""
    from ..services.audit_chain import export

    if format != "jsonl":
        err.print("[red]error[/red] --format must be jsonl")
        raise typer.Exit(2)
    export(context_for(data_dir, database_url), since=_when(since, "--since"), until=_when(until, "--until"), out=sys.stdout)
