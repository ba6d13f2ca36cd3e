"""Approval policies of a mailbox, and what a single send call may change of them.

A mailbox names its human approvers by address (`approvers`), how many different approvers must
approve a held message (`approvals_required`, N of M), how long a held message waits
(`approval_timeout`, seconds) and what happens then (`on_timeout`):

- `reject`: the message is rejected with the reason "approval timed out";
- `escalate`: the second list of approvers (`escalate_to`) is notified and the wait starts again;
  a second timeout rejects;
- `approve`: the message goes out unapproved. This loosens oversight, so the server's operator
  must allow it (`MULTIMAIL_ALLOW_APPROVE_ON_TIMEOUT`); otherwise it is refused.

A send call may set `approval_timeout` and `on_timeout` for its own message. An admin key may set
anything a mailbox could; an agent key may only tighten: it cannot choose `approve` unless the
mailbox itself approves on timeout, and it cannot shorten a timeout that approves. N of M is the
mailbox's alone (no call changes it).

A `monitored` mailbox may send its approvers a `digest` (hourly or daily) of what went out.
Pure rules, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .addresses import normalized_or_none
from .errors import BadRequest, Forbidden

ON_TIMEOUT = ("reject", "escalate", "approve")
DIGESTS = ("hourly", "daily")
DIGEST_SECONDS = {"hourly": 3600, "daily": 24 * 3600}
MAX_APPROVERS = 50
MAX_REQUIRED = 10
MAX_TIMEOUT_SECONDS = 90 * 24 * 3600
TIMED_OUT_REASON = "approval timed out"


def _bad(field: str, message: str) -> BadRequest:
    return BadRequest(message, code="invalid_field", details={"field": field})


def check_addresses(value: Any, field: str) -> list[str]:
    """A list of distinct, normalized mail addresses (a single address is taken as a list of one)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) > MAX_APPROVERS:
        raise _bad(field, f"{field} must be a list of at most {MAX_APPROVERS} addresses.")
    result: list[str] = []
    for i, item in enumerate(value):
        spec = normalized_or_none(item) if isinstance(item, str) else None
        if spec is None:
            raise _bad(f"{field}[{i}]", f"{field}[{i}] is not a mail address.")
        if spec not in result:
            result.append(spec)
    return result


def check_required(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REQUIRED:
        raise _bad("approvals_required", f"approvals_required must be an integer from 1 to {MAX_REQUIRED}.")
    return value


def check_timeout(value: Any, field: str = "approval_timeout") -> int | None:
    """Seconds, or None (0 also means no timeout)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TIMEOUT_SECONDS:
        raise _bad(field, f"{field} must be a number of seconds from 0 to {MAX_TIMEOUT_SECONDS} (0: no timeout).")
    return value or None


def check_on_timeout(value: Any) -> str:
    if value not in ON_TIMEOUT:
        raise BadRequest(f"on_timeout must be one of {', '.join(ON_TIMEOUT)}.", code="invalid_field",
                         details={"field": "on_timeout", "allowed": list(ON_TIMEOUT)})
    return value


def check_digest(value: Any) -> str | None:
    if value is None or value == "" or value == "off":
        return None
    if value not in DIGESTS:
        raise BadRequest("digest must be hourly, daily or off.", code="invalid_field",
                         details={"field": "digest", "allowed": [*DIGESTS, "off"]})
    return value


def approve_on_timeout_refused() -> Forbidden:
    return Forbidden("This server does not allow on_timeout: approve (a message would leave without a human's approval); "
                     "its operator may allow it with MULTIMAIL_ALLOW_APPROVE_ON_TIMEOUT=true.",
                     code="approve_on_timeout_not_allowed", details={"field": "on_timeout"})


def check_mailbox_policy(policy: dict[str, Any], *, allow_approve: bool) -> None:
    """The whole policy of a mailbox, after a create or an update: consistent or a clear 400/403."""
    if policy["on_timeout"] == "approve" and policy.get("approval_timeout") and not allow_approve:
        raise approve_on_timeout_refused()
    if policy["on_timeout"] == "escalate" and policy.get("approval_timeout") and not policy.get("escalate_to"):
        raise BadRequest("on_timeout: escalate needs escalate_to (the approvers to notify when the time is up).",
                         code="invalid_field", details={"field": "escalate_to"})


@dataclass(frozen=True)
class HeldPolicy:
    """What applies to one held message: stored with it (messages.approval_policy)."""

    required: int
    timeout: int | None
    on_timeout: str
    escalated: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"required": self.required, "timeout": self.timeout, "on_timeout": self.on_timeout, "escalated": self.escalated}

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> HeldPolicy:
        value = value or {}
        return cls(required=int(value.get("required") or 1), timeout=value.get("timeout"),
                   on_timeout=value.get("on_timeout") or "reject", escalated=bool(value.get("escalated")))


def held_policy(mailbox: dict[str, Any], *, approval_timeout: Any = None, on_timeout: Any = None,
                is_admin: bool, allow_approve: bool) -> HeldPolicy:
    """The policy of a message a call holds: the mailbox's, with the call's own timeout and
    on_timeout where the caller may set them (module docstring)."""
    box_timeout = mailbox.get("approval_timeout") or None
    box_action = mailbox.get("on_timeout") or "reject"
    timeout = check_timeout(approval_timeout) if approval_timeout is not None else box_timeout
    action = check_on_timeout(on_timeout) if on_timeout is not None else box_action
    if action == "approve" and timeout:
        if not allow_approve:
            raise approve_on_timeout_refused()
        if not is_admin:
            if box_action != "approve":
                raise Forbidden("An agent key may not choose on_timeout: approve unless the mailbox itself approves on timeout.",
                                code="oversight_floor", details={"field": "on_timeout", "mailbox_on_timeout": box_action})
            if box_timeout and timeout < box_timeout:
                raise Forbidden("An agent key may not shorten the time before a message is approved without a human.",
                                code="oversight_floor", details={"field": "approval_timeout", "mailbox_approval_timeout": box_timeout})
    if action == "escalate" and timeout and not mailbox.get("escalate_to"):
        raise BadRequest("on_timeout: escalate needs the mailbox's escalate_to approvers.", code="invalid_field",
                         details={"field": "on_timeout"})
    return HeldPolicy(required=int(mailbox.get("approvals_required") or 1), timeout=timeout, on_timeout=action)


def distinct_approvers(approvals: list[dict[str, Any]] | None) -> list[str]:
    """Who has approved, each once (the same approver twice counts once)."""
    seen: list[str] = []
    for a in approvals or []:
        if a.get("by") and a["by"] not in seen:
            seen.append(a["by"])
    return seen


# -- quiet hours -----------------------------------------------------------------------------------

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def check_quiet_hours(value: Any) -> dict[str, str] | None:
    """{"start": "HH:MM", "end": "HH:MM", "timezone": <IANA name>}, or None for "off". The
    time zone's existence is checked by the caller (it needs the tz database)."""
    if value is None or value == "off":
        return None
    if not isinstance(value, dict) or set(value) != {"start", "end", "timezone"}:
        raise _bad("quiet_hours", 'quiet_hours must be {"start": "HH:MM", "end": "HH:MM", "timezone": "Area/City"} or "off".')
    for key in ("start", "end"):
        if not isinstance(value[key], str) or not _HHMM.match(value[key]):
            raise _bad(f"quiet_hours.{key}", f"quiet_hours.{key} must be a time of day as HH:MM (24 h).")
    if value["start"] == value["end"]:
        raise _bad("quiet_hours.end", "quiet_hours.end must differ from its start.")
    if not isinstance(value["timezone"], str) or not value["timezone"] or len(value["timezone"]) > 64:
        raise _bad("quiet_hours.timezone", "quiet_hours.timezone must be an IANA time zone name such as Europe/Berlin.")
    return {"start": value["start"], "end": value["end"], "timezone": value["timezone"]}


def in_quiet_hours(quiet: dict[str, str], local_minutes: int) -> bool:
    """Whether a local time of day (minutes after midnight, in the window's time zone) falls in
    the daily window [start, end); a window may span midnight (22:00-07:00)."""
    start = int(quiet["start"][:2]) * 60 + int(quiet["start"][3:])
    end = int(quiet["end"][:2]) * 60 + int(quiet["end"][3:])
    if start < end:
        return start <= local_minutes < end
    return local_minutes >= start or local_minutes < end


# -- replies from an approver ----------------------------------------------------------------------

# Only the words themselves: "No problem, go ahead" or "OK?" must not decide anything.
_APPROVE = re.compile(r"^\s*(approve|approved)\b[\s.!]*$", re.IGNORECASE)
_REJECT = re.compile(r"^\s*(reject|rejected|deny|denied)\b[\s:,.\-]*(.*)$", re.IGNORECASE | re.DOTALL)


def parse_reply(text: str | None) -> tuple[str, str | None] | None:
    """("approve", None) or ("reject", reason or None) from the first line of a reply's new text;
    None when it says neither (quoted history must already be stripped)."""
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        if _APPROVE.match(line):
            return "approve", None
        m = _REJECT.match(line)
        if m:
            return "reject", m.group(2).strip() or None
        return None
    return None
