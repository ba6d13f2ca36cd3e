"""`multimail mcp`: the MCP server over stdio, for Claude Desktop and any local MCP client.

It talks to a running MultiMail server through the API with one key (the client's config holds
it), so it needs no database access and can run wherever the agent runs.
"""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from .common import app


@app.command("mcp")
def mcp_command(
    api_key: Annotated[Optional[str], typer.Option("--api-key", envvar="MULTIMAIL_API_KEY", show_envvar=True,
                                                   help="The API key the tools act with (its role decides which tools are listed).")] = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", envvar="MULTIMAIL_BASE_URL", show_envvar=True,
                                                    help="The MultiMail server, e.g. http://127.0.0.1:8025.")] = None,
    mailbox: Annotated[Optional[str], typer.Option("--mailbox", envvar="MULTIMAIL_MAILBOX_ID", show_envvar=True,
                                                   help="The mailbox tools use when a call names none.")] = None,
) -> None:
    """Run the MCP server over stdio (JSON-RPC on stdin/stdout; nothing else is printed there)."""
    from ..mcp.stdio import run_stdio

    if not api_key:
        typer.echo("multimail mcp: no API key (--api-key or MULTIMAIL_API_KEY); only verify_message and get_account "
                   "are listed.", err=True)
    run_stdio(api_key=api_key, base_url=base_url or os.environ.get("MULTIMAIL_BASE_URL"), default_mailbox=mailbox)
