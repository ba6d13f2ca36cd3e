"""Mailboxes: create, list, update (oversight mode and floor, approval policies), delete.
Admin-only writes: an agent key can never change who approves its mail or how."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from ..core.access import Principal, Scope, require_scope
from ..core.addresses import normalize_mailbox_address, refuse_control_chars
from ..core.approval_policy import (
    check_addresses,
    check_digest,
    check_mailbox_policy,
    check_on_timeout,
    check_required,
    check_timeout,
)
from ..core.errors import BadRequest, Conflict, Forbidden
from ..core.ids import new_id
from ..core.oversight import DEFAULT_MODE, check_mailbox_modes, parse_mode
from ..core.scheduling import check_gate_timing
from ..core.spam import check_threshold
from ..store import mailboxes as mailbox_q
from . import decision_links
from .common import find_mailbox, record
from .context import Context
from .outbound_pause import check_quiet_hours_setting
from .retention import MAX_RETENTION_DAYS
from .views import mailbox_view

MAX_WINDOW_SECONDS = 7 * 24 * 3600


def _check_window(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_WINDOW_SECONDS:
        raise BadRequest(
            f"idempotency_window_seconds must be an integer from 0 to {MAX_WINDOW_SECONDS}.",
            code="invalid_field",
            details={"field": "idempotency_window_seconds"},
        )
    return value


def _check_display_name(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 200:
        raise BadRequest("display_name must be at most 200 characters.", code="invalid_field", details={"field": "display_name"})
    refuse_control_chars(value, "display_name")
    return value


def _check_flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"{field} must be true or false.", code="invalid_field", details={"field": field})
    return value


def _check_retention(value: Any, field: str) -> int | None:
    """Days to keep (1 to MAX_RETENTION_DAYS); 0 means for ever (stored as NULL)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETENTION_DAYS:
        raise BadRequest(f"{field} must be a whole number of days from 1 to {MAX_RETENTION_DAYS}, or 0 to keep for ever.",
                         code="invalid_field", details={"field": field})
    return value or None


def _policy_changes(ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    """The policy columns of the fields given (None: not given), each checked: approvals, digest,
    quiet hours, scheduling, contacts_only and retention, which create and update both take."""
    checks = {"approvers": lambda v: check_addresses(v, "approvers"), "approvals_required": check_required,
              "approval_timeout": check_timeout, "on_timeout": check_on_timeout,
              "escalate_to": lambda v: check_addresses(v, "escalate_to"), "digest": check_digest,
              "quiet_hours": check_quiet_hours_setting, "gate_timing": check_gate_timing,
              "contacts_only": lambda v: _check_flag(v, "contacts_only"),
              "retain_bodies_days": lambda v: _check_retention(v, "retain_bodies_days"),
              "retain_attachments_days": lambda v: _check_retention(v, "retain_attachments_days")}
    changes = {name: checks[name](value) for name, value in fields.items() if value is not None}
    if changes.get("digest"):
        changes["digest_sent_until"] = ctx.now()  # the first digest covers what goes out from now on
    return changes


def create_mailbox(
    ctx: Context,
    *,
    principal: Principal,
    address: str,
    oversight_mode: str | None = None,
    min_oversight: str | None = None,
    display_name: str = "",
    idempotency_window_seconds: int = 900,
    approvers: list[str] | None = None,
    approvals_required: int | None = None,
    approval_timeout: int | None = None,
    on_timeout: str | None = None,
    escalate_to: list[str] | None = None,
    digest: str | None = None,
    quiet_hours: dict[str, str] | str | None = None,
    contacts_only: bool | None = None,
    retain_bodies_days: int | None = None,
    retain_attachments_days: int | None = None,
    gate_timing: str | None = None,
) -> dict[str, Any]:
    require_scope(principal.scopes, Scope.ADMIN, "create mailboxes")
    normalized = normalize_mailbox_address(address)
    if not principal.sees_mailbox(normalized):
        raise Forbidden("This key may not create a mailbox outside its scope.", code="mailbox_scope_exceeded")
    mode = parse_mode(oversight_mode) if oversight_mode is not None else DEFAULT_MODE
    # The floor defaults to the mode itself: nothing may be loosened until an admin says so.
    floor = parse_mode(min_oversight, "min_oversight") if min_oversight is not None else mode
    check_mailbox_modes(mode, floor)
    now = ctx.now()
    row: dict[str, Any] = {
        "id": new_id("mbx"),
        "address": normalized,
        "display_name": _check_display_name(display_name),
        "oversight_mode": mode.value,
        "min_oversight": floor.value,
        "idempotency_window_seconds": _check_window(idempotency_window_seconds),
        "approvers": [], "approvals_required": 1, "approval_timeout": None, "on_timeout": "reject", "escalate_to": [],
        "digest": None, "digest_sent_until": None, "quiet_hours": None, "spam_threshold": None, "gate_timing": "gate_first",
        "contacts_only": False,
        "created_at": now,
        "updated_at": now,
    }
    row.update(_policy_changes(ctx, {"contacts_only": contacts_only, "retain_bodies_days": retain_bodies_days,
                                     "retain_attachments_days": retain_attachments_days,
                                     "approvers": approvers, "approvals_required": approvals_required,
                                     "approval_timeout": approval_timeout, "on_timeout": on_timeout,
                                     "escalate_to": escalate_to, "digest": digest, "quiet_hours": quiet_hours,
                                     "gate_timing": gate_timing}))
    check_mailbox_policy(row, allow_approve=ctx.settings.allow_approve_on_timeout)
    if row["approvers"] or row["escalate_to"]:
        decision_links.secret(ctx)  # the link key exists before any approver's notice is queued
    try:
        with ctx.store.write() as tx:
            if mailbox_q.by_address(tx, normalized) is not None:
                raise Conflict(f"A mailbox {normalized} already exists.", code="mailbox_exists", details={"address": normalized})
            mailbox_q.insert_mailbox(tx, row)
            record(tx, at=now, principal=principal, action="mailbox.created", mailbox=row, details=mailbox_view(row))
    except IntegrityError:  # a concurrent create of the same address won the race
        raise Conflict(f"A mailbox {normalized} already exists.", code="mailbox_exists", details={"address": normalized}) from None
    return mailbox_view(row)


def list_mailboxes(ctx: Context, *, principal: Principal) -> list[dict[str, Any]]:
    with ctx.store.read() as tx:
        return [mailbox_view(r) for r in mailbox_q.list_all(tx, principal.mailboxes)]


def update_mailbox(
    ctx: Context,
    *,
    principal: Principal,
    mailbox: str,
    oversight_mode: str | None = None,
    min_oversight: str | None = None,
    display_name: str | None = None,
    idempotency_window_seconds: int | None = None,
    approvers: list[str] | None = None,
    approvals_required: int | None = None,
    approval_timeout: int | None = None,
    on_timeout: str | None = None,
    escalate_to: list[str] | None = None,
    digest: str | None = None,
    quiet_hours: dict[str, str] | str | None = None,
    contacts_only: bool | None = None,
    spam_threshold: float | None = None,
    retain_bodies_days: int | None = None,
    retain_attachments_days: int | None = None,
    gate_timing: str | None = None,
) -> dict[str, Any]:
    """Change what is given. `approval_timeout: 0` removes the timeout, `digest: "off"` the
    digest, an empty list the approvers, `retain_*_days: 0` the retention window."""
    require_scope(principal.scopes, Scope.ADMIN, "change mailboxes")
    policy = {"contacts_only": contacts_only, "approvers": approvers, "approvals_required": approvals_required,
              "approval_timeout": approval_timeout, "on_timeout": on_timeout, "escalate_to": escalate_to, "digest": digest,
              "quiet_hours": quiet_hours, "gate_timing": gate_timing, "retain_bodies_days": retain_bodies_days,
              "retain_attachments_days": retain_attachments_days}
    if approvers or escalate_to:
        decision_links.secret(ctx)  # the link key exists before any approver's notice is queued
    now = ctx.now()
    with ctx.store.write() as tx:
        row = find_mailbox(tx, principal, mailbox)
        changes: dict[str, Any] = {}
        if oversight_mode is not None:
            changes["oversight_mode"] = parse_mode(oversight_mode).value
        if min_oversight is not None:
            changes["min_oversight"] = parse_mode(min_oversight, "min_oversight").value
        if display_name is not None:
            changes["display_name"] = _check_display_name(display_name)
        if idempotency_window_seconds is not None:
            changes["idempotency_window_seconds"] = _check_window(idempotency_window_seconds)
        if spam_threshold is not None:
            changes["spam_threshold"] = _check_spam_threshold(spam_threshold)
        for name, value in _policy_changes(ctx, policy).items():
            if name == "digest_sent_until" and row.get("digest"):
                continue  # the digest already runs: keep its period
            if name == "digest_sent_until" or value != row.get(name):
                changes[name] = value
        if digest == "off" and row.get("digest"):
            changes["digest"] = None
        if approval_timeout == 0 and row.get("approval_timeout"):
            changes["approval_timeout"] = None
        new = {**row, **changes}
        check_mailbox_modes(parse_mode(new["oversight_mode"]), parse_mode(new["min_oversight"]))
        check_mailbox_policy(new, allow_approve=ctx.settings.allow_approve_on_timeout)
        if changes:
            mailbox_q.update_mailbox(tx, row["id"], {**changes, "updated_at": now})
            new["updated_at"] = now
            before = {k: _audited(row[k]) for k in changes}
            record(tx, at=now, principal=principal, action="mailbox.updated", mailbox=new,
                   details={"before": before, "after": {k: _audited(v) for k, v in changes.items()}})
    return mailbox_view(new)


def _check_spam_threshold(value: Any) -> float:
    try:
        return check_threshold(value)
    except ValueError as exc:
        raise BadRequest(str(exc), code="invalid_field", details={"field": "spam_threshold"}) from None


def _audited(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def delete_mailbox(ctx: Context, *, principal: Principal, mailbox: str) -> dict[str, Any]:
    require_scope(principal.scopes, Scope.ADMIN, "delete mailboxes")
    now = ctx.now()
    with ctx.store.write() as tx:
        row = find_mailbox(tx, principal, mailbox)
        mailbox_q.delete_mailbox(tx, row["id"])
        record(tx, at=now, principal=principal, action="mailbox.deleted", mailbox=row, details=mailbox_view(row))
    return {"mailbox_id": row["id"], "address": row["address"], "deleted": True}


def get_mailbox(ctx: Context, *, principal: Principal, mailbox: str) -> dict[str, Any]:
    """One mailbox by id or address (404 outside the key's scope, as for every lookup)."""
    with ctx.store.read() as tx:
        return mailbox_view(find_mailbox(tx, principal, mailbox))


def address_for_local_part(ctx: Context, *, principal: Principal, local_part: str) -> str:
    """The full address for a bare local part (the hosted API appends its tenant's domain): the
    one domain of the mailboxes this key sees. With none, or several, the caller must say which
    domain (400), since a self-hosted server has no tenant domain to choose."""
    if not isinstance(local_part, str) or not local_part.strip():
        raise BadRequest("address_local is required.", code="missing_field", details={"field": "address_local"})
    with ctx.store.read() as tx:
        domains = sorted({r["address"].rsplit("@", 1)[1] for r in mailbox_q.list_all(tx, principal.mailboxes)})
    if len(domains) != 1:
        known = f" (this server hosts {', '.join(domains)})" if domains else ""
        raise BadRequest(f"Give the full address (local@domain){known}: a self-hosted server has no tenant domain "
                         "to append to a bare local part unless all its mailboxes share one domain.",
                         code="invalid_field", details={"field": "address_local", "domains": domains})
    return f"{local_part.strip()}@{domains[0]}"
