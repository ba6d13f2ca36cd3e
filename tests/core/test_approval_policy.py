"""The pure rules of approval policies (core/approval_policy.py)."""

from __future__ import annotations

import pytest

from multimail_server.core.approval_policy import distinct_approvers, held_policy, parse_reply
from multimail_server.core.errors import BadRequest, Forbidden


@pytest.mark.parametrize(("text", "expected"), [
    ("approve", ("approve", None)),
    ("  Approved!\n\n> quoted", ("approve", None)),
    ("reject too long", ("reject", "too long")),
    ("Reject: wrong price\nsecond line", ("reject", "wrong price")),
    ("rejected", ("reject", None)),
    ("\n\nDeny - not now", ("reject", "not now")),
    ("No problem, approve it", None),
    ("ok", None),
    ("approve? not sure", None),
    ("I approve", None),
    ("", None),
    (None, None),
])
def test_parse_reply_takes_only_the_words_themselves(text, expected):
    assert parse_reply(text) == expected


BOX = {"approvals_required": 2, "approval_timeout": 600, "on_timeout": "reject", "escalate_to": []}


def test_an_agent_may_tighten_but_not_loosen():
    assert held_policy(BOX, is_admin=False, allow_approve=True).as_json() == {
        "required": 2, "timeout": 600, "on_timeout": "reject", "escalated": False}
    assert held_policy(BOX, approval_timeout=60, is_admin=False, allow_approve=True).timeout == 60
    with pytest.raises(Forbidden):
        held_policy(BOX, on_timeout="approve", is_admin=False, allow_approve=True)
    approving = {**BOX, "on_timeout": "approve"}
    with pytest.raises(Forbidden):  # a shorter wait before approving without a human
        held_policy(approving, approval_timeout=60, is_admin=False, allow_approve=True)
    assert held_policy(approving, approval_timeout=6000, is_admin=False, allow_approve=True).timeout == 6000
    assert held_policy(BOX, on_timeout="approve", is_admin=True, allow_approve=True).on_timeout == "approve"


def test_approve_on_timeout_needs_the_operator_and_escalation_needs_people():
    with pytest.raises(Forbidden):
        held_policy(BOX, on_timeout="approve", is_admin=True, allow_approve=False)
    with pytest.raises(BadRequest):
        held_policy(BOX, on_timeout="escalate", is_admin=True, allow_approve=False)
    with pytest.raises(BadRequest):
        held_policy(BOX, approval_timeout=-5, is_admin=True, allow_approve=False)


def test_the_same_approver_counts_once():
    assert distinct_approvers([{"by": "a"}, {"by": "b"}, {"by": "a"}]) == ["a", "b"]


def test_quiet_hours_windows_may_span_midnight():
    from multimail_server.core.approval_policy import check_quiet_hours, in_quiet_hours

    night = check_quiet_hours({"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"})
    assert [in_quiet_hours(night, h * 60) for h in (21, 22, 23, 0, 6, 7, 12)] == [False, True, True, True, True, False, False]
    lunch = {"start": "12:00", "end": "13:30", "timezone": "UTC"}
    assert [in_quiet_hours(lunch, m) for m in (719, 720, 809, 810)] == [False, True, True, False]
    assert check_quiet_hours("off") is None
    for bad in ({"start": "7:00", "end": "08:00", "timezone": "UTC"}, {"start": "07:00", "end": "08:00"}, "always"):
        with pytest.raises(BadRequest):
            check_quiet_hours(bad)
