"""/v1/webhooks[/{id}]: create_webhook, list_webhooks and delete_webhook (services/webhooks.py) in
the hosted dialect. Event names may be the hosted ones (mapped to ours) or ours; the deliveries are
this server's signed events (Standard Webhooks; README, "Webhooks")."""

from __future__ import annotations

from fastapi import APIRouter, Path

from ....client.types import HostedStatus, HostedWebhook, HostedWebhookList
from ....services import mailboxes as mailbox_svc
from ....services import webhooks as svc
from ...deps import CtxDep, PrincipalDep
from ._bodies import CreateWebhookBody
from ._common import TAG, NotServed, errors, events_in, webhook_shape

router = APIRouter(prefix="/v1", tags=[TAG])
WebhookId = Path(description="The subscription's id (wh_...).")


def _mailbox_ids(ctx, who) -> dict[str, str]:
    return {m["address"]: m["mailbox_id"] for m in mailbox_svc.list_mailboxes(ctx, principal=who)}


@router.post("/webhooks", operation_id="hosted_create_webhook", status_code=201, response_model=HostedWebhook,
             responses=errors(403, 404, 501, body=True))
def create_webhook(body: CreateWebhookBody, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Subscribe a URL to events (admin); the answer carries the signing secret."""
    if body.secret is not None:
        raise NotServed("This server makes each webhook's signing secret itself; leave secret out and keep "
                        "signing_secret from the answer.", details={"field": "secret"})
    view = svc.create_webhook(ctx, principal=who, url=body.url, events=events_in(body.events), mailbox=body.mailbox_id)
    return webhook_shape(view, _mailbox_ids(ctx, who))


@router.get("/webhooks", operation_id="hosted_list_webhooks", response_model=HostedWebhookList, responses=errors(403))
def list_webhooks(ctx: CtxDep, who: PrincipalDep) -> dict:
    """Every subscription in the key's scope (admin), without secrets."""
    ids = _mailbox_ids(ctx, who)
    items = [webhook_shape(v, ids) for v in svc.list_webhooks(ctx, principal=who)["webhooks"]]
    return {"subscriptions": items, "webhooks": items}


@router.get("/webhooks/{webhook_id}", operation_id="hosted_get_webhook", response_model=HostedWebhook,
            responses=errors(403, 404))
def get_webhook(ctx: CtxDep, who: PrincipalDep, webhook_id: str = WebhookId) -> dict:
    """One subscription with its signing secret (admin)."""
    return webhook_shape(svc.get_webhook(ctx, principal=who, webhook_id=webhook_id), _mailbox_ids(ctx, who))


@router.delete("/webhooks/{webhook_id}", operation_id="hosted_delete_webhook", response_model=HostedStatus,
               responses=errors(403, 404))
def delete_webhook(ctx: CtxDep, who: PrincipalDep, webhook_id: str = WebhookId) -> dict:
    """Delete a subscription (admin); its pending deliveries are not sent."""
    done = svc.delete_webhook(ctx, principal=who, webhook_id=webhook_id)
    return {"id": done["webhook_id"], "status": "deleted"}
