"""The pure rules: when a recipient is a contact (core/contacts.is_known), what a contact may
hold, and that contacts_only only ever turns a send into a hold (core/oversight)."""

from __future__ import annotations

import itertools

import pytest

from multimail_server.core.contacts import check_name, check_tags, is_known
from multimail_server.core.errors import BadRequest
from multimail_server.core.oversight import Mode, Outcome, Verdict, hold_for_unknown_recipients


@pytest.mark.parametrize("recipient,contacts,known", [
    ("bob@x.test", ["bob@x.test"], True),
    ("BOB@x.test", ["bob@x.test"], True),  # letter case of the local part: the same mailbox in practice
    ("straße@x.test", ["straße@x.test"], True),
    ("strasse@x.test", ["straße@x.test"], False),  # the key folds ß to ss; the mailbox differs
    ("\uff42ob@x.test", ["bob@x.test"], False),  # a full-width b: NFKC makes it b, SMTP does not
    ("bob+tag@x.test", ["bob@x.test"], False),
    ("bob@x.test", [], False),
])
def test_is_known_never_over_matches(recipient, contacts, known):
    assert is_known(recipient, contacts) is known


def test_hold_for_unknown_recipients_only_turns_sends_into_holds():
    for mode, outcome, contacts_only, unknown in itertools.product(
            [m for m in Mode if m is not Mode.READ_ONLY], list(Outcome), [False, True], [[], ["x@y.test"]]):
        verdict = Verdict(mode=mode, outcome=outcome)
        after = hold_for_unknown_recipients(verdict, contacts_only=contacts_only, unknown=unknown)
        assert after.mode is mode
        expected = Outcome.HOLD if contacts_only and unknown else outcome
        assert after.outcome is expected


def test_names_and_tags_are_checked():
    assert check_name("  Ana  ") == "Ana" and check_name(None) == ""
    assert check_tags(["vip", " vip", "ops"]) == ["vip", "ops"]
    for bad in ["x" * 201, 5, "Ana\r\nBcc: x@y"]:
        with pytest.raises(BadRequest):
            check_name(bad)
    for bad in ["vip", [""], ["x" * 51], [1], ["t"] * 21, ["a\nb"]]:
        with pytest.raises(BadRequest):
            check_tags(bad)
