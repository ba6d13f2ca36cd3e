"""`multimail mailboxes create | list | policy`."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from ..core.access import Principal
from .common import DatabaseUrl, DataDir, JsonOut, context_for, group, out, run

mailboxes_app = group("mailboxes", "Mailboxes.")

# The approval policy options of `create` and `policy` (core/approval_policy.py), declared once:
# name on the command line -> (the option, the service's keyword argument).
POLICY_OPTIONS: dict[str, tuple[Any, str]] = {
    "approver": (Annotated[Optional[list[str]], typer.Option(
        "--approver", help="An approver's address (repeat for several); notified by email when a message is held.")],
        "approvers"),
    "approvals_required": (Annotated[Optional[int], typer.Option(
        "--approvals-required", help="N of M: how many different approvers must approve.")], "approvals_required"),
    "timeout": (Annotated[Optional[int], typer.Option(
        "--timeout", help="Seconds a held message waits before --on-timeout applies (0: none).")], "approval_timeout"),
    "on_timeout": (Annotated[Optional[str], typer.Option(
        "--on-timeout", help="reject | escalate | approve (approve only where the server allows it).")], "on_timeout"),
    "escalate_to": (Annotated[Optional[list[str]], typer.Option(
        "--escalate-to", help="An address notified on escalation (repeat for several).")], "escalate_to"),
    "digest": (Annotated[Optional[str], typer.Option(
        "--digest", help="hourly | daily | off: a monitored mailbox's digest to its approvers.")], "digest"),
    "quiet_hours": (Annotated[Optional[str], typer.Option(
        "--quiet-hours", help='"22:00-07:00 Europe/Berlin" or off: a daily window without outbound mail.')], "quiet_hours"),
    "contacts_only": (Annotated[Optional[bool], typer.Option(
        "--contacts-only/--no-contacts-only", help="Hold mail that would go out on its own to anyone not an approved contact.")],
        "contacts_only"),
}
# Retention (services/retention.py), on `create` and `retention`.
RetainBodies = Annotated[Optional[int], typer.Option("--bodies-days", help="Days message bodies and raw bytes are kept (0: for ever).")]
RetainAttachments = Annotated[Optional[int], typer.Option("--attachments-days", help="Days attachments are kept (0: for ever).")]


def with_policy_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` the approval policy options in place of its `policy` parameter, which then
    receives them as the service's keyword arguments (a policy option the command line leaves out
    is None: unchanged, or the default). Typer reads a command's options from its signature, so the
    wrapper's signature is the command's with `policy` spelled out."""
    signature = inspect.signature(command, eval_str=True)
    params: list[inspect.Parameter] = []
    for param in signature.parameters.values():
        if param.name == "policy":
            params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=option, default=None)
                       for name, (option, _) in POLICY_OPTIONS.items()]
        else:
            params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        policy = {field: kwargs.pop(name) for name, (_, field) in POLICY_OPTIONS.items()}
        policy["quiet_hours"] = _quiet(policy["quiet_hours"])
        command(**kwargs, policy=policy)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


@mailboxes_app.command("create")
@with_policy_options
def mailboxes_create(
    address: str,
    oversight: Annotated[str, typer.Option("--oversight", help="read_only | gated_all | gated_send | monitored | autonomous")] = "gated_send",
    min_oversight: Annotated[Optional[str], typer.Option("--min-oversight", help="The floor per-call overrides may not go below (default: the mode).")] = None,
    display_name: Annotated[str, typer.Option("--display-name")] = "",
    policy: dict[str, Any] | None = None,
    bodies_days: RetainBodies = None,
    attachments_days: RetainAttachments = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a hosted mailbox."""
    from ..services.mailboxes import create_mailbox

    row = run(lambda: create_mailbox(context_for(data_dir, database_url), principal=Principal.local_operator(), address=address,
                                      oversight_mode=oversight, min_oversight=min_oversight, display_name=display_name,
                                      retain_bodies_days=bodies_days, retain_attachments_days=attachments_days,
                                      **(policy or {})))
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
@with_policy_options
def mailboxes_policy(
    mailbox: str,
    policy: dict[str, Any] | None = None,
    no_approvers: Annotated[bool, typer.Option("--no-approvers", help="Remove every approver.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Show or change a mailbox's approval policy (approvers, N of M, timeout, escalation, digest, contacts only)."""
    from ..services.mailboxes import update_mailbox

    changes = dict(policy or {})
    if no_approvers:
        changes["approvers"] = []
    row = run(lambda: update_mailbox(context_for(data_dir, database_url), principal=Principal.local_operator(), mailbox=mailbox,
                                      **changes))
    shown = {field: row[field] for _, field in POLICY_OPTIONS.values()}
    if as_json:
        print(json.dumps({"address": row["address"], **shown}, indent=2))
        return
    for key, value in shown.items():
        print(f"{key}: {', '.join(value) if isinstance(value, list) else value}")


@mailboxes_app.command("retention")
def mailboxes_retention(
    mailbox: str,
    bodies_days: RetainBodies = None,
    attachments_days: RetainAttachments = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Show or change how long a mailbox keeps message bodies and attachments (the purge job of the
    worker role removes older content; held and unsent mail and the audit trail always stay)."""
    from ..services.mailboxes import update_mailbox

    row = run(lambda: update_mailbox(context_for(data_dir, database_url), principal=Principal.local_operator(), mailbox=mailbox,
                                      retain_bodies_days=bodies_days, retain_attachments_days=attachments_days))
    kept = {k: row[k] for k in ("retain_bodies_days", "retain_attachments_days")}
    if as_json:
        print(json.dumps({"address": row["address"], **kept}, indent=2))
        return
    for key, value in kept.items():
        print(f"{key}: {'for ever' if value is None else value}")


def _quiet(value: str | None) -> dict[str, str] | str | None:
    """`22:00-07:00 Europe/Berlin` -> the API's object; `off` and None pass through (the service
    checks the rest and names what is wrong)."""
    if value is None or value == "off":
        return value
    window, _, zone = value.strip().partition(" ")
    start, _, end = window.partition("-")
    return {"start": start, "end": end, "timezone": zone.strip()}
