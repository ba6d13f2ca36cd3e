"""Roles, scopes and what each may do.

Keys carry scopes in the hosted API's vocabulary (`read`, `send`, `oversight`, `admin`); roles are
named sets of them. The one invariant that matters most: a key that can send can never also
approve, unless it is an admin key (a human operator), so an agent can never approve its own mail.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from .errors import BadRequest, Forbidden


class Scope(StrEnum):
    READ = "read"
    SEND = "send"
    OVERSIGHT = "oversight"
    ADMIN = "admin"


class Role(StrEnum):
    AGENT = "agent"
    APPROVER = "approver"
    ADMIN = "admin"


ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.AGENT: frozenset({Scope.READ, Scope.SEND}),
    Role.APPROVER: frozenset({Scope.READ, Scope.OVERSIGHT}),
    Role.ADMIN: frozenset(Scope),
}


def validate_scopes(scopes: Iterable[str]) -> frozenset[Scope]:
    """Check a requested scope set; refuse `send` + `oversight` without `admin`."""
    result: set[Scope] = set()
    for s in scopes:
        try:
            result.add(Scope(s))
        except ValueError:
            raise BadRequest(
                f"Unknown scope {s!r}.",
                code="invalid_scope",
                details={"field": "scopes", "allowed": [x.value for x in Scope]},
            ) from None
    if not result:
        raise BadRequest("A key needs at least one scope.", code="invalid_scope", details={"field": "scopes"})
    if Scope.SEND in result and Scope.OVERSIGHT in result and Scope.ADMIN not in result:
        raise BadRequest(
            "A key may not have both 'send' and 'oversight' scopes: an agent must never approve its own mail.",
            code="scope_conflict",
            details={"field": "scopes"},
        )
    if Scope.ADMIN in result:
        result = set(Scope)
    return frozenset(result)


def role_for_scopes(scopes: frozenset[Scope]) -> Role:
    """The narrowest role name that describes a scope set (for display and audit)."""
    if Scope.ADMIN in scopes:
        return Role.ADMIN
    if Scope.OVERSIGHT in scopes:
        return Role.APPROVER
    return Role.AGENT


def require_scope(scopes: frozenset[Scope] | set[Scope], needed: Scope, action: str) -> None:
    if needed not in scopes:
        raise Forbidden(
            f"This key may not {action}: it lacks the '{needed.value}' scope.",
            code="insufficient_scope",
            details={"required_scope": needed.value},
        )


class Principal:
    """Who is calling: a key's id, its scopes and the mailboxes it may act for (None = all)."""

    __slots__ = ("key_id", "scopes", "mailboxes", "label")

    def __init__(
        self,
        *,
        key_id: str | None,
        scopes: frozenset[Scope],
        mailboxes: frozenset[str] | None,
        label: str | None = None,
    ):
        self.key_id = key_id
        self.scopes = scopes
        self.mailboxes = mailboxes
        self.label = label or key_id or "local-operator"

    @property
    def role(self) -> Role:
        return role_for_scopes(self.scopes)

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes

    def sees_mailbox(self, address: str) -> bool:
        return self.mailboxes is None or address.lower() in self.mailboxes

    @classmethod
    def local_operator(cls) -> Principal:
        """The person at the server's terminal (CLI verbs): full rights, audited as such."""
        return cls(key_id=None, scopes=ROLE_SCOPES[Role.ADMIN], mailboxes=None, label="cli")
