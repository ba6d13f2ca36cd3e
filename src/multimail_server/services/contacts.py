"""The per-mailbox address book: add (an upsert), search, delete, and the `contacts_only` check
sending runs (services/sending.py).

One person is one contact however their address is spelt: entries are keyed by the same
comparison key as the suppression list (services/suppressions.suppression_key), so adding
`Bob@BÜCHER.test` when `bob@xn--bcher-kva.test` is there updates that contact instead of making a
second one. Adding is an upsert rather than a 409: the hosted tool has no "edit contact", agents
retry, and a 409 would push an agent towards delete-and-add, which (below) loses the approval.

Who may do what, thought through as an attacker holding an agent key:
- A mailbox with `contacts_only` holds autonomous mail to anyone who is not an *approved* contact,
  so approving a contact loosens oversight. Only a key with the `oversight` scope (approver or
  admin: a human) approves: its additions are approved, and its re-adding of an agent's entry
  approves that entry. An agent key (`send`) may add contacts, but they are stored unapproved and
  do not count for `contacts_only` until a human adds them again; its re-adding never changes
  an entry's approval either way.
- Deleting only ever tightens (fewer known people), so any key that may write to the mailbox
  (`send` or `oversight`) may delete; a read-only key may only search.
- Every key sees only the contacts of the mailboxes it may use; another mailbox's contact id is a
  404 like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from ..core.access import Principal, Scope
from ..core.addresses import parse_address
from ..core.contacts import check_name, check_tags, is_known, search_text
from ..core.errors import BadRequest, Conflict, Forbidden, NotFound
from ..core.ids import new_id
from ..mail.domains import normalize_domain
from ..store import contacts as contact_q
from ..store import mailboxes as mailbox_q
from .common import find_mailbox, iso, record, scoped_mailbox_ids, seq_cursor, seq_page_limit
from .context import Context
from .suppressions import suppression_key

MAX_CONTACTS = 10_000  # per mailbox: an address book, not a mailing list (and a bound on what a key can store)
MAX_QUERY = 200


def view(row: dict[str, Any]) -> dict[str, Any]:
    return {"contact_id": row["id"], "email": row["email"], "name": row["name"], "tags": list(row["tags"] or []),
            "mailbox": row["mailbox_address"], "mailbox_id": row["mailbox_id"], "approved": bool(row["approved"]),
            "approved_by": row["approved_by"], "created_by": row["created_by"], "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"])}


def _writer(principal: Principal, action: str) -> None:
    if not (principal.has(Scope.SEND) or principal.has(Scope.OVERSIGHT)):
        raise Forbidden(f"This key may not {action}: it is read-only (it needs the 'send' or 'oversight' scope).",
                        code="insufficient_scope", details={"required_scope": "send or oversight"})


def _target_mailbox(tx: Connection, principal: Principal, mailbox: str | None) -> dict[str, Any]:
    """The mailbox named, or the only one the key may use (the hosted routes name none)."""
    if mailbox:
        return find_mailbox(tx, principal, mailbox)
    boxes = mailbox_q.list_all(tx, principal.mailboxes)
    if len(boxes) != 1:
        raise BadRequest(f"Name the mailbox (mailbox_id): this key may use {len(boxes)} mailboxes, and each has its own contacts.",
                         code="mailbox_required", details={"field": "mailbox", "mailboxes": [b["address"] for b in boxes]})
    return boxes[0]


def _given_form(address: str) -> tuple[str, str]:
    """(the address as stored: the addr-spec with its domain lower-cased, its comparison key)."""
    spec = parse_address(address, "email").addr_spec
    local, _, domain = spec.rpartition("@")
    normalize_domain(domain)  # an invalid IDN is a 400 before anything is stored
    return f"{local}@{domain.lower()}", suppression_key(address, "email")


def add_contact(ctx: Context, *, principal: Principal, email: str, mailbox: str | None = None, name: str | None = None,
                tags: list[str] | None = None) -> dict[str, Any]:
    """Add `email` to a mailbox's address book, or update the contact it already is (`created`:
    false): `name` and `tags` replace the old ones when given. Approved when the key is a
    human's (oversight scope); see the module docstring."""
    _writer(principal, "add contacts")
    if not isinstance(email, str) or not email.strip():
        raise BadRequest("email is required.", code="missing_field", details={"field": "email"})
    given, key = _given_form(email)
    display = parse_address(email, "email").display_name
    new_name = check_name(name) if name is not None else None
    new_tags = check_tags(tags) if tags is not None else None
    human = principal.has(Scope.OVERSIGHT)
    try:
        return _upsert(ctx, principal, mailbox, given, key, display, new_name, new_tags, human)
    except IntegrityError:  # PostgreSQL: a concurrent add of the same address won; it is there now
        return _upsert(ctx, principal, mailbox, given, key, display, new_name, new_tags, human)


def _upsert(ctx: Context, principal: Principal, mailbox: str | None, given: str, key: str, display: str,
            new_name: str | None, new_tags: list[str] | None, human: bool) -> dict[str, Any]:
    now = ctx.now()
    with ctx.store.write() as tx:
        box = _target_mailbox(tx, principal, mailbox)
        found = contact_q.by_keys(tx, box["id"], [key])
        if not found and contact_q.count(tx, box["id"]) >= MAX_CONTACTS:
            raise Conflict(f"{box['address']} has {MAX_CONTACTS} contacts, the most a mailbox may have; delete some first.",
                           code="too_many_contacts", details={"mailbox": box["address"], "limit": MAX_CONTACTS})
        if not found:
            row: dict[str, Any] = {
                "id": new_id("ct"), "mailbox_id": box["id"], "address_key": key, "email": given,
                "name": new_name if new_name is not None else check_name(display), "tags": new_tags or [],
                "approved": human, "approved_by": principal.label if human else None,
                "created_by": principal.label, "created_at": now, "updated_at": now}
            row["search_text"] = search_text(row["name"], given, key)
            contact_q.insert_contact(tx, row)
            record(tx, at=now, principal=principal, action="contact.added", mailbox=box,
                   details={"contact_id": row["id"], "email": given, "approved": human})
            created, changed = True, row
        else:
            old = found[0]
            changes: dict[str, Any] = {}
            if new_name is not None and new_name != old["name"]:
                changes["name"] = new_name
            if new_tags is not None and new_tags != list(old["tags"] or []):
                changes["tags"] = new_tags
            if human and not old["approved"]:
                changes.update(approved=True, approved_by=principal.label)
            if changes:
                name_after = changes.get("name", old["name"])
                changes.update(search_text=search_text(name_after, old["email"], key), updated_at=now)
                contact_q.update_contact(tx, old["seq"], changes)
                record(tx, at=now, principal=principal, action="contact.approved" if "approved" in changes else "contact.updated",
                       mailbox=box, details={"contact_id": old["id"], "email": old["email"],
                                             "changed": sorted(k for k in changes if k not in ("search_text", "updated_at"))})
            created, changed = False, {**old, **changes}
    return {"created": created, "contact": view({**changed, "mailbox_address": box["address"]})}


def search_contacts(ctx: Context, *, principal: Principal, mailbox: str | None = None, query: str | None = None,
                    cursor: str | None = None, limit: int | None = None) -> dict[str, Any]:
    """One page of contacts, oldest first, of one mailbox or of every mailbox the key may use,
    whose name or address contains `query` (case-insensitive; an address also matches in its
    other spelling: `bücher` finds `xn--bcher-kva`)."""
    limit = seq_page_limit(limit)
    if query is not None and (not isinstance(query, str) or len(query) > MAX_QUERY):
        raise BadRequest(f"q must be a string of at most {MAX_QUERY} characters.", code="invalid_field", details={"field": "q"})
    after = seq_cursor(cursor)
    needle = _needle(query)
    with ctx.store.read() as tx:
        ids = [find_mailbox(tx, principal, mailbox)["id"]] if mailbox else scoped_mailbox_ids(tx, principal)
        rows = contact_q.page(tx, ids, query=needle, after_seq=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"contacts": [view(r) for r in rows], "next_cursor": str(rows[-1]["seq"]) if more and rows else None}


def _needle(query: str | None) -> str | None:
    """The search string as stored text is written (case-folded); a whole address is matched by
    its key, so that any spelling of it finds the contact."""
    if not query or not query.strip():
        return None
    text = query.strip()
    if "@" in text:
        try:
            return suppression_key(text, "q")
        except BadRequest:
            pass  # a fragment such as "@partner": a plain substring
    return text.casefold()


def delete_contact(ctx: Context, *, principal: Principal, contact_id: str) -> dict[str, Any]:
    """Remove a contact (any key that may write to its mailbox; 404 `contact_not_found` when
    there is none the key may see)."""
    _writer(principal, "delete contacts")
    if not isinstance(contact_id, str) or not contact_id.strip():
        raise BadRequest("contact_id is required.", code="missing_field", details={"field": "contact_id"})
    now = ctx.now()
    with ctx.store.write() as tx:
        row = contact_q.by_id(tx, contact_id)
        if row is None or not principal.sees_mailbox(row["mailbox_address"]):
            raise NotFound(f"No contact {contact_id!r} that this key may use.", code="contact_not_found",
                           details={"contact_id": contact_id})
        contact_q.delete_contact(tx, row["seq"])
        record(tx, at=now, principal=principal, action="contact.deleted", mailbox={"id": row["mailbox_id"], "address": row["mailbox_address"]},
               details={"contact_id": row["id"], "email": row["email"], "approved": bool(row["approved"])})
    return {"deleted": True, "contact": view(row)}


def unknown_recipients(tx: Connection, mailbox: dict[str, Any], addresses: list[str]) -> list[str]:
    """The recipients (addr-specs) that are not approved contacts of `mailbox`, in order, once
    each: what a `contacts_only` mailbox holds for (core/contacts.is_known says why the key alone
    is not enough)."""
    keyed = [(address, suppression_key(address, "to")) for address in addresses]
    approved: dict[str, list[str]] = {}
    for row in contact_q.by_keys(tx, mailbox["id"], sorted({k for _, k in keyed})):
        if row["approved"]:
            approved.setdefault(row["address_key"], []).append(row["email"])
    unknown: list[str] = []
    for address, key in keyed:
        if not is_known(address, approved.get(key, [])) and address not in unknown:
            unknown.append(address)
    return unknown

