"""Contacts: the pure rules of the per-mailbox address book.

What a contact may hold (a name, a few short tags) and when a recipient is one of a mailbox's
contacts for oversight (`contacts_only`, core/oversight.hold_for_unknown_recipients).

Being a contact loosens oversight, so matching must never over-match there. Lookup goes by the
one comparison key of an address (services/suppressions.suppression_key: the domain in its IDNA
A-label form, the local part NFKC-normalised and case-folded), which is right for finding the
entry; but that key also folds `straße` into `strasse` and a full-width `ｂob` into `bob`, which
are other mailboxes. So a recipient counts only when its local part equals the contact's apart
from letter case (`is_known`): `Bob@BÜCHER.test` is the contact `bob@xn--bcher-kva.test`,
`strasse@x` is not the contact `straße@x`, and `bob+tag@x` is not the contact `bob@x`.
"""

from __future__ import annotations

from typing import Any

from .errors import BadRequest
from .headers import refuse_control_chars

MAX_NAME = 200
MAX_TAGS = 20
MAX_TAG = 50


def check_name(value: Any) -> str:
    """A contact's display name: a string of at most MAX_NAME characters, no control characters."""
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise BadRequest(f"name must be a string of at most {MAX_NAME} characters.", code="invalid_field",
                         details={"field": "name"})
    refuse_control_chars(value, "name")
    return value.strip()


def check_tags(value: Any) -> list[str]:
    """Tags: at most MAX_TAGS distinct non-empty strings of at most MAX_TAG characters, in the
    order given (duplicates dropped)."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise BadRequest(f"tags must be a list of at most {MAX_TAGS} strings.", code="invalid_field", details={"field": "tags"})
    tags: list[str] = []
    for i, tag in enumerate(value):
        if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG:
            raise BadRequest(f"tags[{i}] must be a non-empty string of at most {MAX_TAG} characters.", code="invalid_field",
                             details={"field": f"tags[{i}]"})
        refuse_control_chars(tag, f"tags[{i}]")
        if tag.strip() not in tags:
            tags.append(tag.strip())
    return tags


def local_part(addr_spec: str) -> str:
    return addr_spec.rpartition("@")[0]


def is_known(recipient_spec: str, contact_specs: list[str]) -> bool:
    """Whether a recipient (an addr-spec whose key matched these contacts' key) is one of them:
    its local part equals a contact's but for letter case. The domains already matched in the key
    (A-label form, case-insensitive)."""
    local = local_part(recipient_spec).lower()
    return any(local_part(spec).lower() == local for spec in contact_specs)


def search_text(name: str, email: str, key: str) -> str:
    """What a search matches in: the name, the address as given and its key, case-folded."""
    return " ".join((name, email, key)).casefold()
