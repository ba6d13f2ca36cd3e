"""`multimail show ID [--raw]`: one message as the API's read_email shows it, or its exact bytes."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..core.access import Principal
from .common import DatabaseUrl, DataDir, app, context_for, run


@app.command()
def show(
    message_id: str,
    raw: Annotated[bool, typer.Option("--raw", help="Print the RFC 5322 bytes (as received, or as handed over).")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show one message (JSON, as read_email answers), or with --raw its exact bytes."""
    from ..services.reading import get_raw, read_email

    ctx = context_for(data_dir, database_url)
    if raw:
        sys.stdout.buffer.write(run(lambda: get_raw(ctx, principal=Principal.local_operator(), message_id=message_id)))
        sys.stdout.buffer.flush()
        return
    shown = run(lambda: read_email(ctx, principal=Principal.local_operator(), message_id=message_id, mark_read=False))
    print(json.dumps(shown, indent=2))
