"""Roles and scopes: agent = read+send, approver = read+oversight, admin = all; never send+oversight."""

from __future__ import annotations

import itertools

import pytest

from multimail_server.core.access import ROLE_SCOPES, Principal, Role, Scope, require_scope, role_for_scopes, validate_scopes
from multimail_server.core.errors import BadRequest, Forbidden

ALL = ["read", "send", "oversight", "admin"]
SUBSETS = [set(c) for n in range(1, 5) for c in itertools.combinations(ALL, n)]


def test_role_scopes_are_the_documented_sets():
    assert {r.value: {s.value for s in scopes} for r, scopes in ROLE_SCOPES.items()} == {
        "agent": {"read", "send"},
        "approver": {"read", "oversight"},
        "admin": {"read", "send", "oversight", "admin"},
    }
    assert {s.value for s in Scope} == set(ALL)
    assert {r.value for r in Role} == {"agent", "approver", "admin"}


def test_no_role_but_admin_can_both_send_and_approve():
    for role, scopes in ROLE_SCOPES.items():
        if Scope.SEND in scopes and Scope.OVERSIGHT in scopes:
            assert role is Role.ADMIN


@pytest.mark.parametrize("requested", SUBSETS, ids=lambda s: "+".join(sorted(s)))
def test_validate_scopes_every_subset(requested):
    if "admin" in requested:
        assert validate_scopes(sorted(requested)) == frozenset(Scope)
    elif {"send", "oversight"} <= requested:
        with pytest.raises(BadRequest) as info:
            validate_scopes(sorted(requested))
        assert info.value.status == 400
        assert info.value.code == "scope_conflict"
        assert info.value.details == {"field": "scopes"}
    else:
        got = validate_scopes(sorted(requested))
        assert isinstance(got, frozenset)
        assert all(isinstance(s, Scope) for s in got)
        assert {s.value for s in got} == requested


def test_validate_scopes_ignores_order_and_duplicates():
    assert validate_scopes(["send", "read", "send"]) == frozenset({Scope.READ, Scope.SEND})
    assert validate_scopes(("oversight", "read")) == validate_scopes(["read", "oversight"])
    assert validate_scopes(iter(["read"])) == frozenset({Scope.READ})


@pytest.mark.parametrize("scopes", [["write"], ["read", "write"], ["READ"], ["Send"], [" read"], [""], [None], [1],
                                    ["read", "send", "oversight", "root"]])
def test_validate_scopes_refuses_unknown(scopes):
    with pytest.raises(BadRequest) as info:
        validate_scopes(scopes)
    assert info.value.code == "invalid_scope"
    assert info.value.details["allowed"] == ALL


def test_validate_scopes_refuses_empty():
    for empty in ([], (), set(), iter([])):
        with pytest.raises(BadRequest) as info:
            validate_scopes(empty)
        assert info.value.code == "invalid_scope"
        assert info.value.status == 400


def test_unknown_scope_is_reported_before_a_conflict():
    # Both wrong: the unknown name is the more useful message.
    with pytest.raises(BadRequest) as info:
        validate_scopes(["send", "oversight", "nope"])
    assert info.value.code == "invalid_scope"


def test_role_for_scopes():
    for role, scopes in ROLE_SCOPES.items():
        assert role_for_scopes(scopes) is role
        assert role_for_scopes(validate_scopes([s.value for s in scopes])) is role
    assert role_for_scopes(frozenset({Scope.READ})) is Role.AGENT
    assert role_for_scopes(frozenset({Scope.OVERSIGHT})) is Role.APPROVER
    assert role_for_scopes(frozenset({Scope.ADMIN})) is Role.ADMIN


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("needed", list(Scope))
def test_require_scope(role, needed):
    scopes = ROLE_SCOPES[role]
    if needed in scopes:
        assert require_scope(scopes, needed, "do it") is None
        assert require_scope(set(scopes), needed, "do it") is None
    else:
        with pytest.raises(Forbidden) as info:
            require_scope(scopes, needed, "approve messages")
        err = info.value
        assert err.status == 403
        assert err.code == "insufficient_scope"
        assert err.details == {"required_scope": needed.value}
        assert "approve messages" in err.message


def test_agent_can_never_approve_and_approver_can_never_send():
    with pytest.raises(Forbidden):
        require_scope(ROLE_SCOPES[Role.AGENT], Scope.OVERSIGHT, "approve")
    with pytest.raises(Forbidden):
        require_scope(ROLE_SCOPES[Role.APPROVER], Scope.SEND, "send")
    with pytest.raises(Forbidden):
        require_scope(ROLE_SCOPES[Role.APPROVER], Scope.ADMIN, "create mailboxes")


class TestPrincipal:
    def test_all_mailboxes(self):
        p = Principal(key_id="key_1", scopes=ROLE_SCOPES[Role.AGENT], mailboxes=None)
        assert p.sees_mailbox("anything@x.test")
        assert p.sees_mailbox("")

    def test_scoped_mailboxes(self):
        p = Principal(key_id="key_1", scopes=ROLE_SCOPES[Role.AGENT], mailboxes=frozenset({"ana@acme.test"}))
        assert p.sees_mailbox("ana@acme.test")
        assert p.sees_mailbox("ANA@Acme.Test")  # stored addresses are lower-case; lookups are too
        assert not p.sees_mailbox("bob@acme.test")
        assert not p.sees_mailbox("ana@acme.test.evil.test")
        assert not p.sees_mailbox("ana@acme")
        assert not p.sees_mailbox("")

    def test_empty_scope_sees_nothing(self):
        # An empty set is not "all": it is none.
        p = Principal(key_id="key_1", scopes=ROLE_SCOPES[Role.AGENT], mailboxes=frozenset())
        assert not p.sees_mailbox("ana@acme.test")

    def test_role_and_has(self):
        for role, scopes in ROLE_SCOPES.items():
            p = Principal(key_id="k", scopes=scopes, mailboxes=None)
            assert p.role is role
            for s in Scope:
                assert p.has(s) == (s in scopes)

    def test_label(self):
        assert Principal(key_id="key_1", scopes=frozenset(), mailboxes=None).label == "key_1"
        assert Principal(key_id="key_1", scopes=frozenset(), mailboxes=None, label="ci").label == "ci"
        assert Principal(key_id=None, scopes=frozenset(), mailboxes=None).label == "local-operator"

    def test_local_operator(self):
        p = Principal.local_operator()
        assert p.key_id is None
        assert p.role is Role.ADMIN
        assert p.scopes == frozenset(Scope)
        assert p.mailboxes is None
        assert p.label == "cli"

    def test_slots(self):
        p = Principal(key_id="k", scopes=frozenset(), mailboxes=None)
        with pytest.raises(AttributeError):
            p.extra = 1  # type: ignore[attr-defined]
