"""Audit log, webhook subscriptions and API keys."""

from datetime import datetime

from fastapi import APIRouter, Query

from ...client.types import (
    ApiKey,
    ApiKeyList,
    AuditPage,
    EventTypeList,
    Redelivered,
    Webhook,
    WebhookDeleted,
    WebhookDeliveryPage,
    WebhookList,
    WebhookTest,
)
from ...services import audit as audit_svc
from ...services import keys as key_svc
from ...services import webhooks as webhook_svc
from ..deps import CtxDep, PrincipalDep
from ..errors import responses
from ..schemas import (
    ApiKeyRef,
    CreateApiKey,
    CreateWebhook,
    PageCursor,
    PageLimit,
    Redeliver,
    UpdateWebhook,
    WebhookRef,
)

router = APIRouter(prefix="/v1", tags=["admin"])


@router.get("/audit_log", operation_id="audit_log", response_model=AuditPage, responses=responses(404))
def audit_log(
    ctx: CtxDep,
    who: PrincipalDep,
    mailbox: str | None = Query(None, description="Only this mailbox's events (address or mailbox id)."),
    actor: str | None = Query(None, description="Only events caused by this API key (its key_id)."),
    action: str | None = Query(None, description="Only events of this action, e.g. `message.approved`."),
    message_id: str | None = Query(None, description="Only events about this message."),
    since: datetime | None = Query(None, description="Only events at or after this time (ISO 8601)."),
    until: datetime | None = Query(None, description="Only events before this time (ISO 8601)."),
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> dict:
    """Audit events of the mailboxes in the key's scope, newest first."""
    return audit_svc.audit_log(ctx, principal=who, mailbox=mailbox, actor=actor, action=action, message_id=message_id,
                               since=since, until=until, limit=limit, cursor=cursor)


@router.post("/create_webhook", operation_id="create_webhook", response_model=Webhook, responses=responses(403, 404, body=True))
def create_webhook(body: CreateWebhook, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Subscribe to events (admin): a URL (`kind` http, the default; returns the signing secret once),
    a Prefect deployment that gets a flow run per event (`kind` prefect_deployment, `deployment`,
    `parameter`), or Prefect's event stream (`kind` prefect_events). The Prefect kinds call only
    the Prefect API the server was started with."""
    return webhook_svc.create_webhook(ctx, principal=who, **body.model_dump())


@router.get("/list_webhooks", operation_id="list_webhooks", response_model=WebhookList, responses=responses(403))
def list_webhooks(ctx: CtxDep, who: PrincipalDep) -> dict:
    return webhook_svc.list_webhooks(ctx, principal=who)


@router.post("/delete_webhook", operation_id="delete_webhook", response_model=WebhookDeleted, responses=responses(403, 404, body=True))
def delete_webhook(body: WebhookRef, ctx: CtxDep, who: PrincipalDep) -> dict:
    return webhook_svc.delete_webhook(ctx, principal=who, webhook_id=body.webhook_id)


@router.post("/update_webhook", operation_id="update_webhook", response_model=Webhook, responses=responses(403, 404, body=True))
def update_webhook(body: UpdateWebhook, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Change URL, event filter or description; `enabled: true` re-enables a disabled endpoint."""
    return webhook_svc.update_webhook(ctx, principal=who, **body.model_dump(exclude_none=True))


@router.post("/rotate_webhook_secret", operation_id="rotate_webhook_secret", response_model=Webhook, responses=responses(403, 404, body=True))
def rotate_webhook_secret(body: WebhookRef, ctx: CtxDep, who: PrincipalDep) -> dict:
    """A new signing secret; the old one also signs for 24 hours."""
    return webhook_svc.rotate_webhook_secret(ctx, principal=who, webhook_id=body.webhook_id)


@router.post("/test_webhook", operation_id="test_webhook", response_model=WebhookTest, responses=responses(403, 404, body=True))
def test_webhook(body: WebhookRef, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Queue a `webhook.test` event for this endpoint only."""
    return webhook_svc.send_test_event(ctx, principal=who, webhook_id=body.webhook_id)


@router.get("/list_webhook_deliveries", operation_id="list_webhook_deliveries", response_model=WebhookDeliveryPage, responses=responses(403, 404))
def list_webhook_deliveries(
    ctx: CtxDep,
    who: PrincipalDep,
    webhook_id: str = Query(..., description="The webhook whose deliveries to list."),
    status: str | None = Query(None, description="Only deliveries in this state: pending, succeeded or failed."),
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> dict:
    """Deliveries of one webhook, newest first, each with its attempts (status, code, truncated body)."""
    return webhook_svc.list_webhook_deliveries(ctx, principal=who, webhook_id=webhook_id, status=status, limit=limit, cursor=cursor)


@router.post("/redeliver", operation_id="redeliver", response_model=Redelivered, responses=responses(403, 404, body=True))
def redeliver(body: Redeliver, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Send one delivery, or a webhook's finished deliveries in a time range, again (same webhook-id)."""
    return webhook_svc.redeliver(ctx, principal=who, **body.model_dump(exclude_none=True))


@router.get("/list_event_types", operation_id="list_event_types", response_model=EventTypeList, responses=responses())
def list_event_types(who: PrincipalDep) -> dict:
    """Every event type a webhook can subscribe to, with what it means."""
    from ...core.events import EVENT_TYPES

    return {"event_types": [{"type": k, "description": v} for k, v in EVENT_TYPES.items()]}


@router.post("/create_api_key", operation_id="create_api_key", response_model=ApiKey, responses=responses(403, body=True))
def create_api_key(body: CreateApiKey, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Create a key by role or scopes (admin); the secret is in the answer, once."""
    created = key_svc.create_key(ctx, principal=who, **body.model_dump())
    assert created is not None  # None only for the first-key-if-none-exist call of `serve`
    return created


@router.get("/list_api_keys", operation_id="list_api_keys", response_model=ApiKeyList, responses=responses(403))
def list_api_keys(ctx: CtxDep, who: PrincipalDep) -> dict:
    return {"keys": key_svc.list_keys(ctx, principal=who)}


@router.post("/revoke_api_key", operation_id="revoke_api_key", response_model=ApiKey, responses=responses(403, 404, body=True))
def revoke_api_key(body: ApiKeyRef, ctx: CtxDep, who: PrincipalDep) -> dict:
    return key_svc.revoke_key(ctx, principal=who, key_id=body.key_id)
