"""/v1/mailboxes[/{id}] and /configure: the verbs create_mailbox, list_mailboxes, update_mailbox and
delete_mailbox (services/mailboxes.py) in the hosted dialect."""

from __future__ import annotations

from fastapi import APIRouter

from ....client.types import HostedMailbox, HostedMailboxList, HostedStatus
from ....services import mailboxes as svc
from ...deps import CtxDep, PrincipalDep
from ._bodies import CreateMailboxBody, UpdateMailboxBody, given
from ._common import TAG, MailboxId, NotServed, errors, mailbox_shape

router = APIRouter(prefix="/v1", tags=[TAG])


@router.get("/mailboxes", operation_id="hosted_list_mailboxes", response_model=HostedMailboxList, responses=errors())
def list_mailboxes(ctx: CtxDep, who: PrincipalDep) -> dict:
    """The mailboxes this key may act for (list_mailboxes)."""
    return {"mailboxes": [mailbox_shape(v) for v in svc.list_mailboxes(ctx, principal=who)]}


@router.post("/mailboxes", operation_id="hosted_create_mailbox", status_code=201, response_model=HostedMailbox,
             responses=errors(403, 409, body=True))
def create_mailbox(body: CreateMailboxBody, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Create a mailbox (admin; create_mailbox). A bare local part takes the domain all this
    server's mailboxes share."""
    unsupported = given(body, "webhook_url", "ai_disclosure")
    if unsupported:
        field = next(iter(unsupported))
        raise NotServed(f"{field} is not supported by this server; create a webhook with POST /v1/webhooks and mailbox_id.",
                        details={"field": field})
    address = body.address_local if body.address_local is not None else body.address
    if address is None:
        from ....core.errors import BadRequest

        raise BadRequest("address_local is required.", code="missing_field", details={"field": "address_local"})
    if "@" not in address:
        address = svc.address_for_local_part(ctx, principal=who, local_part=address)
    view = svc.create_mailbox(ctx, principal=who, address=address, oversight_mode=body.oversight_mode,
                              display_name=body.display_name or "", contacts_only=body.contacts_only)
    return mailbox_shape(view)


@router.get("/mailboxes/{mailbox_id}", operation_id="hosted_get_mailbox", response_model=HostedMailbox,
            responses=errors(404))
def get_mailbox(ctx: CtxDep, who: PrincipalDep, mailbox_id: str = MailboxId) -> dict:
    """One mailbox, by id or address."""
    return mailbox_shape(svc.get_mailbox(ctx, principal=who, mailbox=mailbox_id))


def _update(ctx, who, mailbox_id: str, body: UpdateMailboxBody) -> dict:
    refused = {k: v for k, v in given(body, "auto_cc", "auto_bcc", "webhook_url", "oversight_webhook_url",
                                       "signature_block", "ai_disclosure").items() if v != ""}
    if body.forward_inbound:
        refused["forward_inbound"] = True
    if refused:
        field = next(iter(refused))
        raise NotServed(f"{field} is not supported by this server (nothing was changed).", details={"field": field})
    # Every mailbox here may schedule, so 1 changes nothing; but 0 (the hosted MCP server's
    # configure_mailbox sends it for scheduling_enabled: false) asks to forbid scheduled send, which
    # this server cannot do: answering "updated" would let the agent go on scheduling unnoticed.
    if body.scheduling_enabled is not None and not body.scheduling_enabled:
        raise NotServed("scheduling_enabled 0 is not supported by this server: every mailbox may schedule "
                        "(nothing was changed).", details={"field": "scheduling_enabled"})
    view = svc.update_mailbox(ctx, principal=who, mailbox=mailbox_id, oversight_mode=body.oversight_mode,
                              display_name=body.display_name, contacts_only=body.contacts_only,
                              retain_bodies_days=body.retain_bodies_days,
                              retain_attachments_days=body.retain_attachments_days, gate_timing=body.default_gate_timing)
    return {"id": view["mailbox_id"], "status": "updated"}


@router.patch("/mailboxes/{mailbox_id}", operation_id="hosted_update_mailbox", response_model=HostedStatus,
              responses=errors(403, 404, 501, body=True))
def update_mailbox(body: UpdateMailboxBody, ctx: CtxDep, who: PrincipalDep, mailbox_id: str = MailboxId) -> dict:
    """Change display name or oversight mode (admin; update_mailbox). Fields this server does not
    have are a 501 when given a value, and nothing changes."""
    return _update(ctx, who, mailbox_id, body)


@router.patch("/mailboxes/{mailbox_id}/configure", operation_id="hosted_configure_mailbox", response_model=HostedStatus,
              responses=errors(403, 404, 501, body=True))
def configure_mailbox(body: UpdateMailboxBody, ctx: CtxDep, who: PrincipalDep, mailbox_id: str = MailboxId) -> dict:
    """The hosted MCP server's configure_mailbox: the same as PATCH /v1/mailboxes/{id}."""
    return _update(ctx, who, mailbox_id, body)


@router.delete("/mailboxes/{mailbox_id}", operation_id="hosted_delete_mailbox", response_model=HostedStatus,
               responses=errors(403, 404))
def delete_mailbox(ctx: CtxDep, who: PrincipalDep, mailbox_id: str = MailboxId) -> dict:
    """Delete a mailbox and its mail (admin; delete_mailbox); the audit trail keeps its history."""
    done = svc.delete_mailbox(ctx, principal=who, mailbox=mailbox_id)
    return {"id": done["mailbox_id"], "status": "deleted"}
