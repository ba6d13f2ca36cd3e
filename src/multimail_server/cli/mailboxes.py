"""`multimail mailboxes create | list | policy`."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..core.access import Principal
from .common import DatabaseUrl, DataDir, JsonOut, context_for, group, out, run

mailboxes_app = group("mailboxes", "Mailboxes.")

# The approval policy options, shared by `create` and `policy` (core/approval_policy.py).
Approver = Annotated[Optional[list[str]], typer.Option("--approver", help="An approver's address (repeat for several); notified by email when a message is held.")]
ApprovalsRequired = Annotated[Optional[int], typer.Option("--approvals-required", help="N of M: how many different approvers must approve.")]
Timeout = Annotated[Optional[int], typer.Option("--timeout", help="Seconds a held message waits before --on-timeout applies (0: none).")]
OnTimeout = Annotated[Optional[str], typer.Option("--on-timeout", help="reject | escalate | approve (approve only where the server allows it).")]
EscalateTo = Annotated[Optional[list[str]], typer.Option("--escalate-to", help="An address notified on escalation (repeat for several).")]
QuietHours = Annotated[Optional[str], typer.Option("--quiet-hours", help='"22:00-07:00 Europe/Berlin" or off: a daily window without outbound mail.')]
Digest = Annotated[Optional[str], typer.Option("--digest", help="hourly | daily | off: a monitored mailbox's digest to its approvers.")]
ContactsOnly = Annotated[Optional[bool], typer.Option("--contacts-only/--no-contacts-only",
                                                    help="Hold mail that would go out on its own to anyone not an approved contact.")]

@mailboxes_app.command("create")
def mailboxes_create(
    address: str,
    oversight: Annotated[str, typer.Option("--oversight", help="read_only | gated_all | gated_send | monitored | autonomous")] = "gated_send",
    min_oversight: Annotated[Optional[str], typer.Option("--min-oversight", help="The floor per-call overrides may not go below (default: the mode).")] = None,
    display_name: Annotated[str, typer.Option("--display-name")] = "",
    approver: Approver = None,
    approvals_required: ApprovalsRequired = None,
    timeout: Timeout = None,
    on_timeout: OnTimeout = None,
    escalate_to: EscalateTo = None,
    digest: Digest = None,
    quiet_hours: QuietHours = None,
    contacts_only: ContactsOnly = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a hosted mailbox."""
    from ..services.mailboxes import create_mailbox

    row = run(lambda: create_mailbox(context_for(data_dir, database_url), principal=Principal.local_operator(), address=address,
                                      oversight_mode=oversight, min_oversight=min_oversight, display_name=display_name,
                                      approvers=approver, approvals_required=approvals_required, approval_timeout=timeout,
                                      on_timeout=on_timeout, escalate_to=escalate_to, digest=digest,
                                      quiet_hours=_quiet(quiet_hours), contacts_only=contacts_only))
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


@mailboxes_app.command("policy")
def mailboxes_policy(
    mailbox: str,
    approver: Approver = None,
    no_approvers: Annotated[bool, typer.Option("--no-approvers", help="Remove every approver.")] = False,
    approvals_required: ApprovalsRequired = None,
    timeout: Timeout = None,
    on_timeout: OnTimeout = None,
    escalate_to: EscalateTo = None,
    digest: Digest = None,
    quiet_hours: QuietHours = None,
    contacts_only: ContactsOnly = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Show or change a mailbox's approval policy (approvers, N of M, timeout, escalation, digest, contacts only)."""
    from ..services.mailboxes import update_mailbox

    row = run(lambda: update_mailbox(context_for(data_dir, database_url), principal=Principal.local_operator(), mailbox=mailbox,
                                      approvers=[] if no_approvers else approver, approvals_required=approvals_required,
                                      approval_timeout=timeout, on_timeout=on_timeout, escalate_to=escalate_to, digest=digest,
                                      quiet_hours=_quiet(quiet_hours), contacts_only=contacts_only))
    policy = {k: row[k] for k in ("approvers", "approvals_required", "approval_timeout", "on_timeout", "escalate_to", "digest",
                                  "quiet_hours", "contacts_only")}
    if as_json:
        print(json.dumps({"address": row["address"], **policy}, indent=2))
        return
    for key, value in policy.items():
        print(f"{key}: {', '.join(value) if isinstance(value, list) else value}")


def _quiet(value: str | None) -> dict[str, str] | str | None:
    """`22:00-07:00 Europe/Berlin` -> the API's object; `off` and None pass through (the service
    checks the rest and names what is wrong)."""
    if value is None or value == "off":
        return value
    window, _, zone = value.strip().partition(" ")
    start, _, end = window.partition("-")
    return {"start": start, "end": end, "timezone": zone.strip()}
