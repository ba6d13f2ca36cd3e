"""Webhook subscriptions and their deliveries: create, list, update, delete, rotate the secret,
send a test event, list deliveries with their attempts, redeliver.

A receiver URL is checked when it is saved (literal addresses and names that resolve to refused
addresses are a 400) and again by the worker before every attempt, since DNS answers change.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ..core.access import Principal, Scope, require_scope
from ..core.errors import BadRequest, NotFound, Unprocessable
from ..core.events import EVENT_TYPES
from ..core.ids import new_id, new_webhook_secret
from ..core.webhook_rules import ROTATION_GRACE, redact_url
from ..store import mailboxes as mailbox_q
from ..store import records
from ..store import webhook_deliveries as delivery_q
from ..store import webhooks as webhook_q
from ..webhooks.ssrf import RefusedAddress, check_url, system_resolver
from .common import find_mailbox, iso, record, scoped_mailbox_ids
from .context import Context
from .reading import check_limit, decode_cursor, encode_cursor
from .views import webhook_view

MAX_REDELIVER = 1000
KINDS = ("http", "prefect_deployment", "prefect_events")
_PARAMETER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


def _check_url(ctx: Context, url: Any) -> str:
    if not isinstance(url, str) or len(url) > 2000:
        raise BadRequest("url must be an http(s) URL.", code="invalid_url", details={"field": "url"})
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c in url for c in "\r\n\x00 "):
        raise BadRequest("url must be an http(s) URL.", code="invalid_url", details={"field": "url"})
    try:
        _ = parts.port  # urllib checks the port only when asked
    except ValueError:
        raise BadRequest("url has an invalid port.", code="invalid_url", details={"field": "url"}) from None

    try:
        check_url(url, allow_private=ctx.settings.webhooks_may_reach_private(), resolver=system_resolver)
    except RefusedAddress as exc:
        if exc.unresolvable:
            return url  # a name that does not resolve yet: accepted now, checked again at every attempt
        raise BadRequest(f"This server may not call that URL: {exc}.", code="webhook_url_refused",
                         details={"field": "url"}) from None
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


def _check_description(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 500:
        raise BadRequest("description must be at most 500 characters.", code="invalid_field", details={"field": "description"})
    return value


def _find(tx, principal: Principal, webhook_id: Any) -> dict[str, Any]:
    row = webhook_q.by_id(tx, webhook_id) if isinstance(webhook_id, str) else None
    allowed = scoped_mailbox_ids(tx, principal)
    if row is None or (allowed is not None and row["mailbox_id"] not in allowed):
        raise NotFound(f"No webhook {webhook_id!r}.", code="webhook_not_found", details={"webhook_id": webhook_id})
    return row


def _address(tx, row: dict[str, Any]) -> str | None:
    box = mailbox_q.by_id(tx, row["mailbox_id"]) if row["mailbox_id"] else None
    return box["address"] if box else None


def _prefect_target(ctx: Context, kind: str, deployment: Any, parameter: Any) -> dict[str, Any]:
    """The target of a Prefect webhook, checked against the server's Prefect API: the deployment
    must exist, and the parameter must be one of its flow's parameters."""
    api = ctx.prefect_api()
    if api is None:
        raise Unprocessable(f"A {kind} webhook needs the server started with --prefect-api-url (MULTIMAIL_PREFECT_API_URL).",
                            code="prefect_not_configured", details={"field": "kind"})
    if kind == "prefect_events":
        if deployment is not None or parameter is not None:
            raise BadRequest("A prefect_events webhook takes no deployment or parameter.", code="invalid_field",
                             details={"field": "deployment" if deployment is not None else "parameter"})
        return {}
    if not isinstance(deployment, str) or not deployment.strip() or len(deployment) > 300:
        raise BadRequest("deployment is required: a deployment id or \"flow-name/deployment-name\".", code="missing_field",
                         details={"field": "deployment"})
    parameter = "message" if parameter is None else parameter
    if not isinstance(parameter, str) or not _PARAMETER.match(parameter):
        raise BadRequest("parameter must be the name of a flow parameter (letters, digits, underscore).", code="invalid_field",
                         details={"field": "parameter"})
    found = api.deployment(deployment.strip())
    if not found.ok:
        if found.status_code == 404:
            raise Unprocessable(f"Prefect has no deployment {deployment!r}.", code="deployment_not_found", details={"field": "deployment"})
        raise Unprocessable(f"The Prefect API could not be asked about the deployment: {found.error}", code="prefect_unavailable",
                            details={"field": "deployment"})
    params = api.parameters_of(found.body)
    if params is not None and parameter not in params:
        raise Unprocessable(f"The deployment's flow has no parameter {parameter!r}.", code="unknown_parameter",
                            details={"field": "parameter", "parameters": sorted(params)})
    return {"deployment": deployment.strip(), "deployment_id": found.body["id"], "parameter": parameter}


def _insert(tx, *, principal: Principal | None, kind: str, url: str, target: dict[str, Any] | None,
            events: list[str] | None, box: dict[str, Any] | None, description: str, now: datetime) -> dict[str, Any]:
    """A new, enabled subscription and its audit event (principal None: the server itself)."""
    row = {"id": new_id("wh"), "url": url, "secret": new_webhook_secret(), "events": events,
           "mailbox_id": box["id"] if box else None, "enabled": True, "created_by": principal.label if principal else "system",
           "created_at": now, "updated_at": now, "description": description, "consecutive_failures": 0,
           "kind": kind, "target": target}
    webhook_q.insert_webhook(tx, row)
    record(tx, at=now, principal=principal, action="webhook.created", mailbox=box,
           details={"webhook_id": row["id"], "kind": kind, "events": events,
                    **({"url": redact_url(url)} if kind == "http" else {"target": target})})
    return row


def create_webhook(ctx: Context, *, principal: Principal, url: str | None = None, events: list[str] | None = None,
                   mailbox: str | None = None, description: str = "", kind: str = "http", deployment: str | None = None,
                   parameter: str | None = None) -> dict[str, Any]:
    """Subscribe to events. `kind` http (default) POSTs signed events to `url`; prefect_deployment
    creates a flow run of `deployment` on the server's Prefect API with the event's data as the
    flow parameter `parameter` (default "message"); prefect_events emits them as Prefect events."""
    require_scope(principal.scopes, Scope.ADMIN, "manage webhooks")
    if kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}.", code="invalid_field", details={"field": "kind", "allowed": list(KINDS)})
    if kind == "http":
        if deployment is not None or parameter is not None:
            raise BadRequest("deployment and parameter are for prefect_deployment webhooks.", code="invalid_field",
                             details={"field": "deployment" if deployment is not None else "parameter"})
        if url is None:
            raise BadRequest("url is required.", code="missing_field", details={"field": "url"})
        url, target = _check_url(ctx, url), None
    else:
        if url is not None:
            raise BadRequest(f"A {kind} webhook calls the server's configured Prefect API; it takes no url.",
                             code="invalid_field", details={"field": "url"})
        url, target = "", _prefect_target(ctx, kind, deployment, parameter)
    types = _check_events(events)
    description = _check_description(description)
    now = ctx.now()
    with ctx.store.write() as tx:
        box = find_mailbox(tx, principal, mailbox) if mailbox else None
        if box is None and principal.mailboxes is not None:
            raise BadRequest("A key scoped to mailboxes must name the mailbox.", code="missing_field", details={"field": "mailbox"})
        row = _insert(tx, principal=principal, kind=kind, url=url, target=target, events=types, box=box,
                      description=description, now=now)
    view = webhook_view(row, box["address"] if box else None)
    return {**view, "secret": row["secret"]} if kind == "http" else view


def ensure_prefect_events(ctx: Context) -> str | None:
    """`--prefect-events`: make sure one subscription sends every event into Prefect's event
    stream, so automations and deployment triggers can react to mail with no webhook set up.
    Returns the id of the subscription it created, or None when one already existed. (Two
    servers starting at once may create two; Prefect keeps one copy of each event, since its id
    derives from MultiMail's event id.)"""
    now = ctx.now()
    with ctx.store.write() as tx:
        existing = [w for w in webhook_q.list_webhooks(tx, None)
                    if w["kind"] == "prefect_events" and w["mailbox_id"] is None and w["events"] is None]
        if existing:
            off = [w for w in existing if not w["enabled"]]
            if len(off) == len(existing):  # disabled after a Prefect outage: the flag says on, so on again
                webhook_q.update_webhook(tx, off[0]["id"], {"enabled": True, "consecutive_failures": 0, "disabled_at": None,
                                                            "disabled_reason": None, "updated_at": now})
                record(tx, at=now, principal=None, action="webhook.updated",
                       details={"webhook_id": off[0]["id"], "changed": ["enabled"], "reason": "--prefect-events"})
            return None
        row = _insert(tx, principal=None, kind="prefect_events", url="", target={}, events=None, box=None,
                      description="Every event into Prefect's event stream (--prefect-events)", now=now)
    return row["id"]


def list_webhooks(ctx: Context, *, principal: Principal) -> dict[str, Any]:
    require_scope(principal.scopes, Scope.ADMIN, "manage webhooks")
    with ctx.store.read() as tx:
        rows = webhook_q.list_webhooks(tx, scoped_mailbox_ids(tx, principal))
        boxes = {m["id"]: m["address"] for m in mailbox_q.list_all(tx, principal.mailboxes)}
    return {"webhooks": [webhook_view(r, boxes.get(r["mailbox_id"])) for r in rows]}


def update_webhook(ctx: Context, *, principal: Principal, webhook_id: str, url: str | None = None,
                   events: list[str] | None = None, enabled: bool | None = None, description: str | None = None) -> dict[str, Any]:
    """Change the URL, event filter, description, or switch the endpoint on or off. Re-enabling
    resets the failure count; deliveries that failed meanwhile can be sent again with redeliver."""
    require_scope(principal.scopes, Scope.ADMIN, "manage webhooks")
    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = _check_url(ctx, url)
    if events is not None:
        changes["events"] = _check_events(events)
    if description is not None:
        changes["description"] = _check_description(description)
    if enabled is not None:
        if not isinstance(enabled, bool):
            raise BadRequest("enabled must be true or false.", code="invalid_field", details={"field": "enabled"})
        changes["enabled"] = enabled
    now = ctx.now()
    with ctx.store.write() as tx:
        row = _find(tx, principal, webhook_id)
        if url is not None and row["kind"] != "http":
            raise BadRequest("This webhook calls the server's Prefect API; it has no url to change.", code="invalid_field",
                             details={"field": "url"})
        if enabled is True and not row["enabled"]:
            changes.update(consecutive_failures=0, disabled_at=None, disabled_reason=None)
        elif enabled is False and row["enabled"]:
            changes.update(disabled_at=now, disabled_reason=f"disabled by {principal.label}")
        if changes:
            webhook_q.update_webhook(tx, row["id"], {**changes, "updated_at": now})
            row = {**row, **changes, "updated_at": now}
            box = mailbox_q.by_id(tx, row["mailbox_id"]) if row["mailbox_id"] else None
            record(tx, at=now, principal=principal, action="webhook.updated", mailbox=box,
                   details={"webhook_id": row["id"], "changed": sorted(k for k in changes if k in ("url", "events", "enabled", "description"))})
        return webhook_view(row, _address(tx, row))


def rotate_webhook_secret(ctx: Context, *, principal: Principal, webhook_id: str) -> dict[str, Any]:
    """A new signing secret; for 24 hours deliveries are signed with both, so receivers can switch."""
    require_scope(principal.scopes, Scope.ADMIN, "manage webhooks")
    now = ctx.now()
    with ctx.store.write() as tx:
        row = _find(tx, principal, webhook_id)
        secret = new_webhook_secret()
        webhook_q.update_webhook(tx, row["id"], {"secret": secret, "previous_secret": row["secret"], "secret_rotated_at": now, "updated_at": now})
        box = mailbox_q.by_id(tx, row["mailbox_id"]) if row["mailbox_id"] else None
        record(tx, at=now, principal=principal, action="webhook.secret_rotated", mailbox=box, details={"webhook_id": row["id"]})
        return {**webhook_view(row, _address(tx, row)), "secret": secret, "previous_secret_valid_until": iso(now + ROTATION_GRACE)}


def send_test_event(ctx: Context, *, principal: Principal, webhook_id: str) -> dict[str, Any]:
    """Queue a `webhook.test` event for this endpoint only; follow it with list_webhook_deliveries."""
    require_scope(principal.scopes, Scope.ADMIN, "manage webhooks")
    now = ctx.now()
    with ctx.store.write() as tx:
        row = _find(tx, principal, webhook_id)
        event_id = new_id("evt")
        data = {"webhook_id": row["id"], "message": "A test event from MultiMail."}
        payload = records.envelope(event_id=event_id, type="webhook.test", at=now, data=data)
        delivery_id = records.insert_delivery(tx, webhook_id=row["id"], event_id=event_id, event_type="webhook.test", payload=payload, now=now)
        box = mailbox_q.by_id(tx, row["mailbox_id"]) if row["mailbox_id"] else None
        record(tx, at=now, principal=principal, action="webhook.tested", mailbox=box,
               details={"webhook_id": row["id"], "delivery_id": delivery_id, "event_id": event_id})
    return {"webhook_id": row["id"], "delivery_id": delivery_id, "event_id": event_id, "status": "pending"}


def delete_webhook(ctx: Context, *, principal: Principal, webhook_id: str) -> dict[str, Any]:
    require_scope(principal.scopes, Scope.ADMIN, "manage webhooks")
    now = ctx.now()
    with ctx.store.write() as tx:
        row = _find(tx, principal, webhook_id)
        webhook_q.delete_webhook(tx, row["id"])
        box = mailbox_q.by_id(tx, row["mailbox_id"]) if row["mailbox_id"] else None
        record(tx, at=now, principal=principal, action="webhook.deleted", mailbox=box, details={"webhook_id": row["id"]})
    return {"webhook_id": row["id"], "deleted": True}


def _delivery_view(d: dict[str, Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "delivery_id": d["id"],
        "webhook_id": d["webhook_id"],
        "event_id": d["event_id"],
        "event_type": d["event_type"],
        "status": d["status"],
        "attempts": d["attempts"],
        "next_attempt_at": iso(d["next_attempt_at"]) if d["status"] == "pending" else None,
        "last_status_code": d["last_status_code"],
        "last_error": d["last_error"],
        "created_at": iso(d["created_at"]),
        "finished_at": iso(d["finished_at"]),
        "attempt_log": [
            {"at": iso(a["attempted_at"]), "status_code": a["status_code"], "error": a["error"],
             "response_body": a["response_body"], "duration_ms": a["duration_ms"]}
            for a in attempts
        ],
    }


def list_webhook_deliveries(ctx: Context, *, principal: Principal, webhook_id: str, status: str | None = None,
                            limit: int | None = None, cursor: str | None = None) -> dict[str, Any]:
    require_scope(principal.scopes, Scope.ADMIN, "manage webhooks")
    if status is not None and status not in ("pending", "succeeded", "failed"):
        raise BadRequest("status must be pending, succeeded or failed.", code="invalid_field", details={"field": "status"})
    limit = check_limit(limit)
    with ctx.store.read() as tx:
        _find(tx, principal, webhook_id)
        rows = delivery_q.page(tx, webhook_id=webhook_id, status=status, before_seq=decode_cursor(cursor), limit=limit + 1)
        page, more = rows[:limit], len(rows) > limit
        attempts = delivery_q.attempts_of(tx, [d["id"] for d in page])
    return {"deliveries": [_delivery_view(d, attempts[d["id"]]) for d in page],
            "next_cursor": encode_cursor(page[-1]["seq"]) if more else None}


def redeliver(ctx: Context, *, principal: Principal, delivery_id: str | None = None, webhook_id: str | None = None,
              since: datetime | None = None, until: datetime | None = None, status: str | None = None) -> dict[str, Any]:
    """Send finished deliveries again — one by id, or a webhook's deliveries in a time range —
    with the same `webhook-id` and body, so receivers that already have them can de-duplicate."""
    require_scope(principal.scopes, Scope.ADMIN, "manage webhooks")
    if (delivery_id is None) == (webhook_id is None):
        raise BadRequest("Give delivery_id, or webhook_id with an optional since/until.", code="invalid_request",
                         details={"field": "delivery_id"})
    if status is not None and status not in ("succeeded", "failed"):
        raise BadRequest("status must be succeeded or failed.", code="invalid_field", details={"field": "status"})
    now = ctx.now()
    with ctx.store.write() as tx:
        if delivery_id is not None:
            d = delivery_q.by_id(tx, delivery_id) if isinstance(delivery_id, str) else None
            if d is None:
                raise NotFound(f"No delivery {delivery_id!r}.", code="delivery_not_found", details={"delivery_id": delivery_id})
            hook = _find(tx, principal, d["webhook_id"])
            ids = [delivery_id]
        else:
            hook = _find(tx, principal, webhook_id)
            ids = delivery_q.in_range(tx, webhook_id=hook["id"], since=since, until=until, status=status)
            if len(ids) > MAX_REDELIVER:
                raise BadRequest(f"That range holds {len(ids)} deliveries; redeliver at most {MAX_REDELIVER} at a time.",
                                 code="too_many_deliveries", details={"count": len(ids)})
        count = delivery_q.reset_for_redelivery(tx, delivery_ids=ids, now=now)
        box = mailbox_q.by_id(tx, hook["mailbox_id"]) if hook["mailbox_id"] else None
        record(tx, at=now, principal=principal, action="webhook.redelivered", mailbox=box,
               details={"webhook_id": hook["id"], "deliveries": count})
    return {"redelivered": count}


def get_webhook(ctx: Context, *, principal: Principal, webhook_id: str) -> dict[str, Any]:
    """One subscription with its signing secret (admin), for the hosted API's
    `GET /v1/webhooks/{id}`, which shows the secret again (our verbs show it once, at creation,
    and rotate_webhook_secret makes a new one)."""
    require_scope(principal.scopes, Scope.ADMIN, "manage webhooks")
    with ctx.store.read() as tx:
        row = _find(tx, principal, webhook_id)
        address = _address(tx, row)
    view = webhook_view(row, address)
    return {**view, "secret": row["secret"]} if row["kind"] == "http" else view
