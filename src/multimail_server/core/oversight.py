"""Oversight: the one rule that decides what happens to an outbound message.

Five modes, strictest first. A mailbox has a default mode and a floor (`min_oversight`) that only
an admin sets. A call may name a mode: stricter than the default is always fine, looser only down
to the floor. Then the applied mode and the kind of action decide: refuse, hold for a human, or
send (and, under `monitored`, tell a human after the fact).

`decide_outbound` is pure and total over mode x floor x override x action; tests enumerate it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from .access import ROLE_SCOPES, Role, Scope
from .errors import BadRequest, Forbidden, Unprocessable


class Mode(StrEnum):
    READ_ONLY = "read_only"
    GATED_ALL = "gated_all"
    GATED_SEND = "gated_send"
    MONITORED = "monitored"
    AUTONOMOUS = "autonomous"


# Strictest first, as in the API reference; a lower index is stricter.
MODES_STRICTEST_FIRST: tuple[Mode, ...] = (
    Mode.READ_ONLY,
    Mode.GATED_ALL,
    Mode.GATED_SEND,
    Mode.MONITORED,
    Mode.AUTONOMOUS,
)
_RANK = {m: i for i, m in enumerate(MODES_STRICTEST_FIRST)}

DEFAULT_MODE = Mode.GATED_SEND


class Action(StrEnum):
    """What an outbound call does; `gated_send` treats a reply differently from a new conversation."""

    SEND = "send"  # send_email: a new conversation
    DECIDE = "decide"  # decide_email: a new conversation that asks a question
    REPLY = "reply"  # reply_email: a message in an existing thread
    FORWARD = "forward"  # a new conversation carrying another message


class Outcome(StrEnum):
    HOLD = "hold"  # stored as pending until a human approves
    SEND = "send"  # queued for delivery now
    SEND_AND_NOTIFY = "send_and_notify"  # queued now; a human is told to review it


@dataclass(frozen=True)
class Verdict:
    mode: Mode
    outcome: Outcome


def parse_mode(value: str, field: str = "oversight_mode") -> Mode:
    try:
        return Mode(value)
    except ValueError:
        raise BadRequest(
            f"{field} must be one of {', '.join(m.value for m in MODES_STRICTEST_FIRST)}.",
            code="invalid_oversight_mode",
            details={"field": field, "value": value, "allowed": [m.value for m in MODES_STRICTEST_FIRST]},
        ) from None


def stricter_or_equal(a: Mode, b: Mode) -> bool:
    """True when mode `a` is at least as strict as mode `b`."""
    return _RANK[a] <= _RANK[b]


def check_mailbox_modes(default: Mode, floor: Mode) -> None:
    """A mailbox's default mode may not be looser than its floor."""
    if not stricter_or_equal(default, floor):
        raise Unprocessable(
            f"oversight_mode '{default.value}' is looser than min_oversight '{floor.value}'; "
            "lower min_oversight in the same call to allow it.",
            code="oversight_below_floor",
            details={"oversight_mode": default.value, "min_oversight": floor.value},
        )


def applied_mode(*, default: Mode, floor: Mode, override: Mode | None) -> Mode:
    """The mode a call runs under: the override if it is allowed, else a 403."""
    # Coerce, so that a plain string from a database row or a request compares like the enum.
    default, floor = Mode(default), Mode(floor)
    override = Mode(override) if override is not None else None
    if override is None or override == default:
        return default
    if stricter_or_equal(override, default):
        return override
    if stricter_or_equal(override, floor):
        return override
    raise Forbidden(
        f"oversight_mode '{override.value}' is looser than this mailbox allows (min_oversight "
        f"'{floor.value}'); only an admin can lower the floor.",
        code="oversight_override_forbidden",
        details={"requested": override.value, "min_oversight": floor.value, "default": default.value},
    )


def outcome_for(mode: Mode, action: Action) -> Outcome:
    """What happens to an outbound message of `action` under `mode` (read_only refuses)."""
    # `is` comparisons below would let a plain string like "gated_all" fall through to SEND.
    mode, action = Mode(mode), Action(action)
    if mode is Mode.READ_ONLY:
        raise Forbidden(
            "This mailbox is read_only: it may read and tag, but not send.",
            code="oversight_read_only",
            details={"oversight_mode": mode.value},
        )
    if mode is Mode.GATED_ALL:
        return Outcome.HOLD
    if mode is Mode.GATED_SEND:
        return Outcome.SEND if action is Action.REPLY else Outcome.HOLD
    if mode is Mode.MONITORED:
        return Outcome.SEND_AND_NOTIFY
    if mode is Mode.AUTONOMOUS:
        return Outcome.SEND
    raise AssertionError(f"unhandled oversight mode {mode!r}")  # pragma: no cover - fail closed


def decide_outbound(
    *, role: Role | frozenset[Scope], default: Mode, floor: Mode, override: Mode | None, action: Action
) -> Verdict:
    """The whole rule for an outbound call, in the order a client should hear about problems.

    1. the key must have the `send` scope (approvers cannot send; admins can);
    2. the override must not loosen below the floor;
    3. the applied mode decides refuse / hold / send.
    """
    scopes = ROLE_SCOPES[Role(role)] if isinstance(role, str) else role
    if Scope.SEND not in scopes:
        raise Forbidden(
            "This key may not send mail: it lacks the 'send' scope.",
            code="insufficient_scope",
            details={"required_scope": "send"},
        )
    mode = applied_mode(default=default, floor=floor, override=override)
    return Verdict(mode=mode, outcome=outcome_for(mode, action))


def hold_for_unknown_recipients(verdict: Verdict, *, contacts_only: bool, unknown: Sequence[str]) -> Verdict:
    """A `contacts_only` mailbox holds for a human what would otherwise go out (autonomous,
    monitored, or a reply under gated_send) when any recipient is not one of its approved
    contacts. It only ever turns SEND into HOLD: it never refuses and never releases; a per-call
    override cannot switch it off (it applies whatever mode the call runs under)."""
    if contacts_only and unknown and verdict.outcome is not Outcome.HOLD:
        return Verdict(mode=verdict.mode, outcome=Outcome.HOLD)
    return verdict
