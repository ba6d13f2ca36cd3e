"""Webhook subscriptions: create, list, delete. (Delivery: the webhook worker, a later issue.)"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..core.access import Principal, Scope, require_scope
from ..core.errors import BadRequest, NotFound
from ..core.events import EVENT_TYPES
from ..core.ids import new_id, new_webhook_secret
from ..store import mailboxes as mailbox_q
from ..store import webhooks as webhook_q
from .common import find_mailbox, record, scoped_mailbox_ids
from .context import Context
from .views import webhook_view


def _check_url(url: Any) -> str:
    if not isinstance(url, str) or len(url) > 2000:
        raise BadRequest("url must be an http(s) URL.", code="invalid_url", details={"field": "url"})
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c in url for c in "\r\n\x00 "):
        raise BadRequest("url must be an http(s) URL.", code="invalid_url", details={"field": "url"})
    return url


def _check_events(events: Any) -> list[str] | None:
    if events is None:
        return None
    if not isinstance(events, list) or not events:
        raise BadRequest("events must be a non-empty list of event types.", code="invalid_field", details={"field": "events"})
    for e in events:
        if e not in EVENT_TYPES:
            raise BadRequest(f"Unknown event type {e!r}.", code="invalid_event_type", details={"field": "events", "allowed": sorted(EVENT_TYPES)})
    return sorted(set(events))


def create_webhook(ctx: Context, *, principal: Principal, url: str, events: list[str] | None = None, mailbox: str | None = None) -> dict[str, Any]:
    require_scope(principal.scopes, Scope.ADMIN, "manage webhooks")
    url = _check_url(url)
    types = _check_events(events)
    now = ctx.now()
    with ctx.store.write() as tx:
        box = find_mailbox(tx, principal, mailbox) if mailbox else None
        if box is None and principal.mailboxes is not None:
            raise BadRequest("A key scoped to mailboxes must name the mailbox.", code="missing_field", details={"field": "mailbox"})
        row = {"id": new_id("wh"), "url": url, "secret": new_webhook_secret(), "events": types,
               "mailbox_id": box["id"] if box else None, "enabled": True, "created_by": principal.label, "created_at": now}
        webhook_q.insert_webhook(tx, row)
        record(tx, at=now, principal=principal, action="webhook.created", mailbox=box, details={"webhook_id": row["id"], "url": url, "events": types})
    return {**webhook_view(row, box["address"] if box else None), "secret": row["secret"]}


def list_webhooks(ctx: Context, *, principal: Principal) -> dict[str, Any]:
    require_scope(principal.scopes, Scope.ADMIN, "manage webhooks")
    with ctx.store.read() as tx:
        rows = webhook_q.list_webhooks(tx, scoped_mailbox_ids(tx, principal))
        boxes = {m["id"]: m["address"] for m in mailbox_q.list_all(tx, principal.mailboxes)}
    return {"webhooks": [webhook_view(r, boxes.get(r["mailbox_id"])) for r in rows]}


def delete_webhook(ctx: Context, *, principal: Principal, webhook_id: str) -> dict[str, Any]:
    require_scope(principal.scopes, Scope.ADMIN, "manage webhooks")
    now = ctx.now()
    with ctx.store.write() as tx:
        row = webhook_q.by_id(tx, webhook_id) if isinstance(webhook_id, str) else None
        allowed = scoped_mailbox_ids(tx, principal)
        if row is None or (allowed is not None and row["mailbox_id"] not in allowed):
            raise NotFound(f"No webhook {webhook_id!r}.", code="webhook_not_found", details={"webhook_id": webhook_id})
        webhook_q.delete_webhook(tx, webhook_id)
        box = mailbox_q.by_id(tx, row["mailbox_id"]) if row["mailbox_id"] else None
        record(tx, at=now, principal=principal, action="webhook.deleted", mailbox=box, details={"webhook_id": webhook_id})
    return {"webhook_id": webhook_id, "deleted": True}
