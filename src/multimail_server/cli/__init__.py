"""The `multimail` command: run the server, and the verbs a person at a terminal needs.

One module per command group; importing them registers their commands on `common.app`.
"""

from __future__ import annotations

from . import approvals, audit, contacts, domains, keys, mailboxes, mcp, messages, serve  # noqa: F401, I001  (registers the commands, in help order)
from .common import app


def main() -> None:
    app(prog_name="multimail")


__all__ = ["app", "main"]
