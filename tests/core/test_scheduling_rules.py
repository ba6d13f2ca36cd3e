"""core/scheduling.py: what a send_at means, at its edges, and which gate timing a call gets."""

from __future__ import annotations

from datetime import timedelta

import pytest

from multimail_server.core.errors import BadRequest, Forbidden
from multimail_server.core.scheduling import CLOCK_SKEW, MAX_AHEAD, applied_gate_timing, parse_send_at
from tests.conftest import Clock

NOW = Clock.FIXED


def _code(value) -> str:
    with pytest.raises(BadRequest) as err:
        parse_send_at(value, now=NOW)
    return err.value.code


def test_times_with_an_offset_name_one_instant():
    later = NOW + timedelta(hours=2)
    assert parse_send_at(later.strftime("%Y-%m-%dT%H:%M:%SZ"), now=NOW) == later
    assert parse_send_at((later + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S") + "+02:00", now=NOW) == later
    assert parse_send_at(later.isoformat().replace("+00:00", "z"), now=NOW) == later
    assert parse_send_at((later + timedelta(microseconds=999)).isoformat(), now=NOW) == later  # whole seconds
    assert parse_send_at(None, now=NOW) is None


def test_now_and_the_clock_skew_mean_send_now_and_beyond_it_is_refused():
    assert parse_send_at(NOW.isoformat(), now=NOW) is None
    assert parse_send_at((NOW - CLOCK_SKEW).isoformat(), now=NOW) is None
    assert _code((NOW - CLOCK_SKEW - timedelta(seconds=1)).isoformat()) == "send_at_in_past"
    assert parse_send_at((NOW + MAX_AHEAD).isoformat(), now=NOW) == NOW + MAX_AHEAD
    assert _code((NOW + MAX_AHEAD + timedelta(seconds=1)).isoformat()) == "send_at_too_far"


@pytest.mark.parametrize("value", ["2026-12-01T09:00:00", "tomorrow", "", "  ", "2026-02-30T10:00:00Z", 1767258000, [], {}])
def test_anything_else_is_a_clear_400(value):
    assert _code(value) == "invalid_send_at"


def test_gate_timing_only_gets_stricter_for_an_agent():
    assert applied_gate_timing(default=None, override=None, is_admin=False) == "gate_first"
    assert applied_gate_timing(default="gate_first", override="schedule_first", is_admin=False) == "schedule_first"
    assert applied_gate_timing(default="schedule_first", override="schedule_first", is_admin=False) == "schedule_first"
    with pytest.raises(Forbidden):
        applied_gate_timing(default="schedule_first", override="gate_first", is_admin=False)
    assert applied_gate_timing(default="schedule_first", override="gate_first", is_admin=True) == "gate_first"
    with pytest.raises(BadRequest):
        applied_gate_timing(default="gate_first", override="later", is_admin=True)
