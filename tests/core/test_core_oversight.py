"""Oversight, exhaustively: every mode x floor x override x action x role against an oracle.

The oracle below is written from the API reference's table ("Oversight modes", "Keys and roles") with plain
strings and literal tables, not from the implementation, so the two can disagree.
"""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from multimail_server.core.access import ROLE_SCOPES, Role, Scope
from multimail_server.core.errors import BadRequest, Forbidden, MultiMailError, Unprocessable
from multimail_server.core.oversight import (
    DEFAULT_MODE,
    MODES_STRICTEST_FIRST,
    Action,
    Mode,
    Outcome,
    Verdict,
    applied_mode,
    check_mailbox_modes,
    decide_outbound,
    outcome_for,
    parse_mode,
    stricter_or_equal,
)

# ---------------------------------------------------------------------------------------------
# The oracle, from the API reference.

# "Oversight modes (strictest first)"
STRICTEST_FIRST = ["read_only", "gated_all", "gated_send", "monitored", "autonomous"]
ACTIONS = ["send", "decide", "reply", "forward"]
ROLES = ["agent", "approver", "admin"]
OVERRIDES = [None, *STRICTEST_FIRST]

# What each mode does to each kind of outbound call, as a literal table:
# read_only refuses everything; gated_all holds everything (send, reply, decide, forward);
# gated_send holds new conversations (send, decide, forward) and lets replies in a thread go out;
# monitored goes out and a human is notified; autonomous just goes out.
REFUSE = ("error", 403, "oversight_read_only")
TABLE = {
    "read_only": {"send": REFUSE, "decide": REFUSE, "reply": REFUSE, "forward": REFUSE},
    "gated_all": {"send": "hold", "decide": "hold", "reply": "hold", "forward": "hold"},
    "gated_send": {"send": "hold", "decide": "hold", "reply": "send", "forward": "hold"},
    "monitored": {a: "send_and_notify" for a in ACTIONS},
    "autonomous": {a: "send" for a in ACTIONS},
}
# "Keys and roles": agent = read+send, approver = read+oversight, admin = everything.
CAN_SEND = {"agent": True, "approver": False, "admin": True}


def looser(a: str, b: str) -> bool:
    """True when mode a is strictly looser than mode b."""
    return STRICTEST_FIRST.index(a) > STRICTEST_FIRST.index(b)


def valid_mailbox(default: str, floor: str) -> bool:
    """A mailbox's default may not be looser than its floor."""
    return not looser(default, floor)


def oracle(role: str, default: str, floor: str, override: str | None, action: str):
    """("error", status, code) or (applied_mode, outcome)."""
    if not CAN_SEND[role]:
        return ("error", 403, "insufficient_scope")
    if override is None:
        mode = default
    elif not looser(override, default):
        mode = override  # tightening (or restating the default) is always allowed
    elif not looser(override, floor):
        mode = override  # loosening down to the floor is allowed
    else:
        return ("error", 403, "oversight_override_forbidden")
    result = TABLE[mode][action]
    if isinstance(result, tuple):
        return result
    return (mode, result)


VALID_PAIRS = [(d, f) for d in STRICTEST_FIRST for f in STRICTEST_FIRST if valid_mailbox(d, f)]
GRID = list(itertools.product(ROLES, VALID_PAIRS, OVERRIDES, ACTIONS))


def _run(role, default, floor, override, action, *, as_strings=False, role_arg=None):
    kwargs = dict(
        role=role_arg if role_arg is not None else Role(role),
        default=default if as_strings else Mode(default),
        floor=floor if as_strings else Mode(floor),
        override=(override if as_strings else Mode(override)) if override is not None else None,
        action=action if as_strings else Action(action),
    )
    try:
        verdict = decide_outbound(**kwargs)
    except MultiMailError as exc:
        return ("error", exc.status, exc.code), exc
    assert isinstance(verdict, Verdict)
    assert isinstance(verdict.mode, Mode) and isinstance(verdict.outcome, Outcome)
    return (verdict.mode.value, verdict.outcome.value), verdict


# ---------------------------------------------------------------------------------------------
# The oracle itself is checked against a few sentences of the API reference, so that a wrong oracle cannot
# silently agree with a wrong implementation.


def test_oracle_matches_api_md_sentences():
    assert oracle("agent", "gated_send", "gated_send", None, "reply") == ("gated_send", "send")
    assert oracle("agent", "gated_send", "gated_send", None, "send") == ("gated_send", "hold")
    assert oracle("agent", "gated_all", "gated_all", None, "reply") == ("gated_all", "hold")
    assert oracle("agent", "read_only", "read_only", None, "reply") == REFUSE
    assert oracle("agent", "monitored", "gated_send", "autonomous", "send") == ("error", 403, "oversight_override_forbidden")
    assert oracle("agent", "monitored", "autonomous", "autonomous", "send") == ("autonomous", "send")
    assert oracle("agent", "autonomous", "autonomous", "read_only", "send") == REFUSE
    assert oracle("approver", "autonomous", "autonomous", None, "send") == ("error", 403, "insufficient_scope")


def test_grid_is_what_we_think_it_is():
    # 15 valid (default, floor) pairs out of 25; 3 roles x 6 overrides x 4 actions each.
    assert len(VALID_PAIRS) == 15
    assert len(GRID) == 3 * 15 * 6 * 4
    # Every kind of answer occurs in the grid, so the exhaustive test exercises all of them.
    kinds = Counter(oracle(r, d, f, o, a)[1] if oracle(r, d, f, o, a)[0] != "error" else oracle(r, d, f, o, a)[2]
                    for r, (d, f), o, a in GRID)
    assert set(kinds) == {"hold", "send", "send_and_notify", "insufficient_scope", "oversight_read_only",
                          "oversight_override_forbidden"}


# ---------------------------------------------------------------------------------------------
# The exhaustive grid.


@pytest.mark.parametrize(
    "role,default,floor,override,action",
    [(r, d, f, o, a) for r, (d, f), o, a in GRID],
)
def test_decide_outbound_matches_oracle(role, default, floor, override, action):
    expected = oracle(role, default, floor, override, action)
    got, raw = _run(role, default, floor, override, action)
    assert got == expected
    if expected[0] == "error":
        assert isinstance(raw, Forbidden)
        assert raw.to_body()["error"]["code"] == expected[2]
        assert raw.message
    else:
        # The answer always states the mode that was applied.
        assert raw.mode == Mode(expected[0])
        # Whatever was applied is never looser than the floor.
        assert not looser(raw.mode.value, floor)


def test_decide_outbound_same_answer_for_roles_given_as_scope_sets_and_strings():
    for role, (default, floor), override, action in GRID:
        by_role, _ = _run(role, default, floor, override, action)
        by_scopes, _ = _run(role, default, floor, override, action, role_arg=ROLE_SCOPES[Role(role)])
        by_string, _ = _run(role, default, floor, override, action, role_arg=role)
        assert by_role == by_scopes == by_string, (role, default, floor, override, action)


def test_decide_outbound_plain_strings_behave_like_enums():
    # Services read modes from database rows; a plain string must never fall through to "send".
    for role, (default, floor), override, action in GRID:
        as_enum, _ = _run(role, default, floor, override, action)
        as_str, _ = _run(role, default, floor, override, action, as_strings=True)
        assert as_str == as_enum, (role, default, floor, override, action)


@pytest.mark.parametrize("scopes,can_send", [
    (frozenset({Scope.SEND}), True),
    (frozenset({Scope.READ, Scope.SEND}), True),
    (frozenset(Scope), True),
    (frozenset({Scope.READ}), False),
    (frozenset({Scope.OVERSIGHT}), False),
    (frozenset({Scope.READ, Scope.OVERSIGHT}), False),
    (frozenset({Scope.ADMIN}), False),  # a raw set is taken as given; validate_scopes expands admin
    (frozenset(), False),
])
def test_decide_outbound_checks_the_send_scope_first(scopes, can_send):
    # Even where the mode would refuse or the override would be forbidden, a key without `send`
    # hears about its scope first.
    for default, floor in VALID_PAIRS:
        for override in OVERRIDES:
            for action in ACTIONS:
                kwargs = dict(role=scopes, default=Mode(default), floor=Mode(floor),
                              override=Mode(override) if override else None, action=Action(action))
                if can_send:
                    expected = oracle("agent", default, floor, override, action)
                    try:
                        v = decide_outbound(**kwargs)
                        assert (v.mode.value, v.outcome.value) == expected
                    except Forbidden as exc:
                        assert ("error", 403, exc.code) == expected
                else:
                    with pytest.raises(Forbidden) as info:
                        decide_outbound(**kwargs)
                    assert info.value.code == "insufficient_scope"
                    assert info.value.details == {"required_scope": "send"}


def test_override_forbidden_details_name_the_floor():
    with pytest.raises(Forbidden) as info:
        decide_outbound(role=Role.AGENT, default=Mode.GATED_SEND, floor=Mode.GATED_SEND,
                        override=Mode.AUTONOMOUS, action=Action.SEND)
    assert info.value.status == 403
    assert info.value.code == "oversight_override_forbidden"
    assert info.value.details == {"requested": "autonomous", "min_oversight": "gated_send", "default": "gated_send"}


def test_read_only_refusal_shape():
    with pytest.raises(Forbidden) as info:
        decide_outbound(role=Role.ADMIN, default=Mode.READ_ONLY, floor=Mode.READ_ONLY,
                        override=None, action=Action.REPLY)
    assert info.value.status == 403
    assert info.value.to_body() == {"error": {"code": "oversight_read_only", "message": info.value.message,
                                              "details": {"oversight_mode": "read_only"}}}


# ---------------------------------------------------------------------------------------------
# The pieces.


def test_modes_strictest_first_is_api_md_order():
    assert [m.value for m in MODES_STRICTEST_FIRST] == STRICTEST_FIRST
    assert {m.value for m in Mode} == set(STRICTEST_FIRST)
    assert {a.value for a in Action} == set(ACTIONS)
    assert DEFAULT_MODE is Mode.GATED_SEND  # the API reference: "Default oversight gated_send"


@pytest.mark.parametrize("a,b", itertools.product(STRICTEST_FIRST, STRICTEST_FIRST))
def test_stricter_or_equal(a, b):
    assert stricter_or_equal(Mode(a), Mode(b)) == (not looser(a, b))


@pytest.mark.parametrize("default,floor", itertools.product(STRICTEST_FIRST, STRICTEST_FIRST))
def test_check_mailbox_modes_over_all_pairs(default, floor):
    if valid_mailbox(default, floor):
        assert check_mailbox_modes(Mode(default), Mode(floor)) is None
    else:
        with pytest.raises(Unprocessable) as info:
            check_mailbox_modes(Mode(default), Mode(floor))
        assert info.value.status == 422
        assert info.value.code == "oversight_below_floor"
        assert info.value.details == {"oversight_mode": default, "min_oversight": floor}


def test_check_mailbox_modes_invalid_count():
    invalid = [(d, f) for d in STRICTEST_FIRST for f in STRICTEST_FIRST if not valid_mailbox(d, f)]
    assert len(invalid) == 10
    for d, f in invalid:
        with pytest.raises(Unprocessable):
            check_mailbox_modes(Mode(d), Mode(f))


@pytest.mark.parametrize("default,floor", VALID_PAIRS)
@pytest.mark.parametrize("override", OVERRIDES)
def test_applied_mode(default, floor, override):
    expected = oracle("agent", default, floor, override, "reply")
    try:
        got = applied_mode(default=Mode(default), floor=Mode(floor), override=Mode(override) if override else None)
    except Forbidden as exc:
        assert exc.code == "oversight_override_forbidden"
        assert expected == ("error", 403, "oversight_override_forbidden")
    else:
        assert expected[0] != "error" or expected == REFUSE
        assert got.value == (override or default)


@pytest.mark.parametrize("mode", STRICTEST_FIRST)
@pytest.mark.parametrize("action", ACTIONS)
def test_outcome_for_table(mode, action):
    expected = TABLE[mode][action]
    for m, a in [(Mode(mode), Action(action)), (mode, action)]:
        if isinstance(expected, tuple):
            with pytest.raises(Forbidden) as info:
                outcome_for(m, a)
            assert info.value.code == "oversight_read_only"
        else:
            assert outcome_for(m, a) == Outcome(expected)


def test_outcome_for_refuses_unknown_values():
    with pytest.raises(ValueError):
        outcome_for("gated", Action.SEND)
    with pytest.raises(ValueError):
        outcome_for(Mode.AUTONOMOUS, "broadcast")


@pytest.mark.parametrize("value", STRICTEST_FIRST)
def test_parse_mode_accepts_each_mode(value):
    assert parse_mode(value) is Mode(value)


@pytest.mark.parametrize("value", [
    "", " ", "GATED_SEND", "Gated_Send", " gated_send", "gated_send ", "gated-send", "gated", "readonly",
    "read-only", "supervised", "none", None, 3, 0, ["gated_send"], {"mode": "gated_send"},
])
def test_parse_mode_refuses_anything_else(value):
    with pytest.raises(BadRequest) as info:
        parse_mode(value)
    err = info.value
    assert err.status == 400
    assert err.code == "invalid_oversight_mode"
    assert err.details["field"] == "oversight_mode"
    assert err.details["allowed"] == STRICTEST_FIRST


def test_parse_mode_names_the_field():
    with pytest.raises(BadRequest) as info:
        parse_mode("loose", "min_oversight")
    assert info.value.details["field"] == "min_oversight"
    assert info.value.details["value"] == "loose"
    assert "min_oversight" in info.value.message
