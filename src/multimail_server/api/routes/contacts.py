"""add_contact, search_contacts, delete_contact: the per-mailbox address book (services/contacts.py).
Only approved contacts (added by an approver or admin key) count for a mailbox's `contacts_only`."""

from fastapi import APIRouter, Query

from ...client.types import ContactAdded, ContactDeleted, ContactPage
from ...services import contacts as svc
from ..deps import CtxDep, PrincipalDep
from ..errors import responses
from ..schemas import AddContact, DeleteContact

router = APIRouter(prefix="/v1", tags=["contacts"])


@router.post("/add_contact", operation_id="add_contact", response_model=ContactAdded, responses=responses(403, 404, 409, body=True))
def add_contact(body: AddContact, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Add an address to a mailbox's address book, or update the contact it already is (any
    spelling: matched case- and IDN-insensitively; `created: false`). Agent and approver/admin keys;
    only an approver or admin key's contact is `approved` (counts for `contacts_only`), and its
    re-adding approves an agent's entry."""
    return svc.add_contact(ctx, principal=who, mailbox=body.mailbox, email=body.email, name=body.name, tags=body.tags)


@router.get("/search_contacts", operation_id="search_contacts", response_model=ContactPage, responses=responses(400, 404))
def search_contacts(
    ctx: CtxDep,
    who: PrincipalDep,
    q: str | None = Query(None, max_length=200, description="Part of a name or address (case-insensitive); omitted: every contact."),
    mailbox: str | None = Query(None, description="Address or mailbox id; omitted: every mailbox the key may use."),
    cursor: str | None = Query(None, description="next_cursor of the previous page."),
    limit: int = Query(50, ge=1, le=100, description="At most this many contacts (oldest first)."),
) -> dict:
    """The address book: contacts whose name or address contains `q`. Any key that may use the mailbox."""
    return svc.search_contacts(ctx, principal=who, mailbox=mailbox, query=q, cursor=cursor, limit=limit)


@router.post("/delete_contact", operation_id="delete_contact", response_model=ContactDeleted, responses=responses(403, 404, body=True))
def delete_contact(body: DeleteContact, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Remove a contact (agent and approver/admin keys: it only ever tightens `contacts_only`);
    404 `contact_not_found` when no mailbox of the key has it."""
    return svc.delete_contact(ctx, principal=who, contact_id=body.contact_id)
