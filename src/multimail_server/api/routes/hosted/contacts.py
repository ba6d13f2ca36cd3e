"""/v1/contacts[/{contact_id}]: the hosted dialect's address book (the MCP tools add_contact,
search_contacts and delete_contact, and the hosted SDK's list_contacts / add_contact /
delete_contact call these), over services/contacts.py.

The hosted service keeps one address book per account; here each mailbox has its own. So a
listing answers the contacts of every mailbox the key may use (or of `mailbox_id`), each naming
its mailbox, and an addition takes `mailbox_id` in its body, which may be left out when the key
has one mailbox."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from ....client.types import HostedContact, HostedContactList, HostedStatus
from ....services import contacts as svc
from ...deps import CtxDep, PrincipalDep
from ._common import TAG, errors

router = APIRouter(prefix="/v1", tags=[TAG])


class CreateContactBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(description="Contact email address")
    name: str | None = Field(None, max_length=200, description="Contact name")
    tags: list[str] | None = Field(None, description="Optional tags for categorization (e.g. ['contractor', 'plumber'])")
    mailbox_id: str | None = Field(None, description="The mailbox whose address book it goes in (id or address); "
                                                     "may be left out when the key has one mailbox.")


def _shape(c: dict[str, Any]) -> dict[str, Any]:
    return {"id": c["contact_id"], "email": c["email"], "name": c["name"], "tags": c["tags"], "mailbox_id": c["mailbox_id"],
            "mailbox": c["mailbox"], "approved": c["approved"], "created_at": c["created_at"], "updated_at": c["updated_at"]}


@router.post("/contacts", operation_id="hosted_add_contact", status_code=201, response_model=HostedContact,
             responses=errors(400, 403, 404, 409, body=True))
def add_contact(body: CreateContactBody, ctx: CtxDep, who: PrincipalDep, response: Response) -> dict:
    """Add a contact (add_contact): 201 when new, 200 with the existing contact (name and tags
    updated) when the address is one already in any spelling."""
    done = svc.add_contact(ctx, principal=who, mailbox=body.mailbox_id, email=body.email, name=body.name, tags=body.tags)
    if not done["created"]:
        response.status_code = 200
    return _shape(done["contact"])


@router.get("/contacts", operation_id="hosted_list_contacts", response_model=HostedContactList, responses=errors(400, 404))
def list_contacts(
    ctx: CtxDep,
    who: PrincipalDep,
    q: str | None = Query(None, max_length=200, description="Search by name or email (partial match)."),
    mailbox_id: str | None = Query(None, description="Only this mailbox's contacts (id or address)."),
    limit: int = Query(50, ge=1, le=100, description="At most this many contacts (oldest first)."),
    cursor: str | None = Query(None, description="next_cursor of the previous page."),
) -> dict:
    """The contacts of the key's mailboxes whose name or address contains `q` (search_contacts)."""
    page = svc.search_contacts(ctx, principal=who, mailbox=mailbox_id, query=q, cursor=cursor, limit=limit)
    return {"contacts": [_shape(c) for c in page["contacts"]], "next_cursor": page["next_cursor"]}


@router.delete("/contacts/{contact_id}", operation_id="hosted_delete_contact", response_model=HostedStatus,
               responses=errors(403, 404))
def delete_contact(ctx: CtxDep, who: PrincipalDep, contact_id: str = Path(description="The contact ID to delete")) -> dict:
    """Delete a contact (delete_contact)."""
    done = svc.delete_contact(ctx, principal=who, contact_id=contact_id)
    return {"id": done["contact"]["contact_id"], "status": "deleted"}
