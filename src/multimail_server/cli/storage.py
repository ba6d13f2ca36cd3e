"""`multimail export MAILBOX` (an mbox file or a zip of .eml files) and `multimail blobs gc`."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..core.access import Principal
from .common import DatabaseUrl, DataDir, app, context_for, err, group, run

BlobStore = Annotated[Optional[str], typer.Option(
    "--blob-store", metavar="URL", show_default=False,
    help="The blob store `multimail serve` uses, if any (env MULTIMAIL_BLOB_STORE).")]


class ExportFormat(StrEnum):
    mbox = "mbox"
    eml = "eml"


@app.command("export")
def export(
    mailbox: str,
    format: Annotated[ExportFormat, typer.Option("--format", help="mbox (one file) or eml (a zip of .eml files).")] = ExportFormat.mbox,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here (default: standard output).")] = None,
    blob_store: BlobStore = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Export a mailbox's messages, exactly as stored, as they are read (streamed)."""
    from ..services.export import export_mailbox

    ctx = context_for(data_dir, database_url, blob_store=blob_store)
    result = run(lambda: export_mailbox(ctx, principal=Principal.local_operator(), mailbox=mailbox, format=format.value))
    target = open(output, "wb") if output else sys.stdout.buffer
    try:
        for chunk in result["chunks"]:
            target.write(chunk)
    finally:
        if output:
            target.close()
    if output:
        err.print(f"Exported {result['mailbox']} to {output}")


blobs_app = group("blobs", "The blob store (--blob-store): raw messages and attachments outside the database.")


@blobs_app.command("gc")
def blobs_gc(
    grace_seconds: Annotated[Optional[float], typer.Option(
        "--grace-seconds", help="Remove only blobs older than this (default: MULTIMAIL_BLOB_GC_GRACE_SECONDS, 3600).")] = None,
    blob_store: BlobStore = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove blobs no row references (left by a crash before a commit, by purges, by deleted mailboxes)."""
    from ..services.retention import collect_garbage

    ctx = context_for(data_dir, database_url, blob_store=blob_store)
    if not ctx.settings.blob_store:
        err.print("[red]error[/red] no blob store: give --blob-store URL (or MULTIMAIL_BLOB_STORE); without one the bytes "
                  "live in the database and leave with their rows.")
        raise typer.Exit(2)
    removed = run(lambda: collect_garbage(ctx, grace_seconds=grace_seconds))
    print(f"Removed {removed} unreferenced blob(s) from {ctx.settings.blob_store}.")
