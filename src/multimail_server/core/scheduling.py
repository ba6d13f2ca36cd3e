"""Scheduled send: when a message may leave, and how a schedule composes with oversight.

`send_at` is an ISO 8601 date and time with its UTC offset (`2026-03-15T14:00:00Z`, or `+02:00`):
a time without an offset names no instant (whose 9 o'clock?), so it is refused rather than
guessed. A time up to `CLOCK_SKEW` in the past means "now" (the caller's clock may be a little
behind ours, and a retried request arrives late); further in the past it is refused, since a
caller who meant yesterday has made a mistake a send would make irreversible. More than
`MAX_AHEAD` ahead is refused too: a year covers every business use (renewals, anniversaries), and
beyond it a typo in the year (2062 for 2026) would park the message, and its approval, for decades.

A held scheduled message meets its approvers at one of two times (`gate_timing`):

- `gate_first`: now; once approved it waits until send_at (approve now, send later);
- `schedule_first`: when it falls due; until then nobody is asked, and the approver decides with
  the freshest knowledge of whether it should still go.

`schedule_first` is the stricter: an approval is never older than the moment the message leaves.
A mailbox has a default; a call may pick the stricter one, and only an admin the looser one
(like the other oversight fields, core/oversight.py). Pure rules, no I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .errors import BadRequest, Forbidden

GATE_FIRST = "gate_first"
SCHEDULE_FIRST = "schedule_first"
GATE_TIMINGS = (GATE_FIRST, SCHEDULE_FIRST)
CLOCK_SKEW = timedelta(minutes=5)
MAX_AHEAD = timedelta(days=366)


def parse_send_at(value: Any, *, now: datetime, field: str = "send_at") -> datetime | None:
    """The instant a message may leave, or None to send now (no value, or a time within
    CLOCK_SKEW of now or earlier than that by less than it). Microseconds are dropped, so what
    is shown is what is stored."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{field} must be an ISO 8601 date and time with a UTC offset, e.g. 2026-03-15T14:00:00Z.",
                         code="invalid_send_at", details={"field": field})
    text = value.strip()
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
    except ValueError:
        raise BadRequest(f"{field} is not an ISO 8601 date and time: {text[:60]!r}.", code="invalid_send_at",
                         details={"field": field, "value": text[:60]}) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise BadRequest(f"{field} has no UTC offset: add Z (UTC) or +hh:mm, e.g. 2026-03-15T14:00:00Z.",
                         code="invalid_send_at", details={"field": field, "value": text[:60]})
    when = when.astimezone(now.tzinfo).replace(microsecond=0)
    if when < now - CLOCK_SKEW:
        raise BadRequest(f"{field} is in the past ({when.isoformat()}; it is now {now.replace(microsecond=0).isoformat()}). "
                         "Leave it out to send now.", code="send_at_in_past",
                         details={"field": field, "send_at": when.isoformat(), "now": now.isoformat()})
    if when > now + MAX_AHEAD:
        raise BadRequest(f"{field} is more than {MAX_AHEAD.days} days ahead.", code="send_at_too_far",
                         details={"field": field, "send_at": when.isoformat(), "max_days": MAX_AHEAD.days})
    return when if when > now else None


def check_gate_timing(value: Any, field: str = "gate_timing") -> str:
    if value not in GATE_TIMINGS:
        raise BadRequest(f"{field} must be gate_first or schedule_first.", code="invalid_field",
                         details={"field": field, "allowed": list(GATE_TIMINGS)})
    return value


def applied_gate_timing(*, default: str | None, override: str | None, is_admin: bool) -> str:
    """The gate timing of one call: the mailbox's, or the call's if it is at least as strict
    (an admin may pick either)."""
    default = default or GATE_FIRST
    if override is None or override == default:
        return default
    override = check_gate_timing(override)
    if override == SCHEDULE_FIRST or is_admin:
        return override
    raise Forbidden("This mailbox asks its approvers when a scheduled message falls due (schedule_first); "
                    "an agent key may not approve it ahead of time (gate_first).",
                    code="oversight_floor", details={"field": "gate_timing", "mailbox_gate_timing": default})
