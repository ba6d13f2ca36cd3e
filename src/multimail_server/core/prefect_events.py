"""MultiMail events as Prefect events, so Prefect automations and deployment triggers can react
to mail without a webhook.

The event name is the MultiMail type under `multimail.` (`multimail.message.received`,
`multimail.message.approved`, `multimail.decision.received`, ...); the resource is the message
(`multimail.message.<id>`), with the mailbox and thread as related resources, and the payload is
the event's data. The Prefect event id is derived from the MultiMail event id, so a retried
emission is the same event to Prefect. Pure: no HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

_NAMESPACE = uuid.UUID("6d756c74-696d-6169-6c2e-6576656e7473")  # fixed: ids must stay stable


def prefect_event_id(event_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, event_id))


def prefect_event(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The Prefect event for one MultiMail webhook envelope ({"id", "type", "created_at", "data"})."""
    data = envelope.get("data") or {}
    type_ = envelope["type"]
    message_id = data.get("message_id")
    if message_id:
        resource = {"prefect.resource.id": f"multimail.message.{message_id}", "prefect.resource.name": str(data.get("subject") or message_id)[:200]}
    elif data.get("webhook_id"):
        resource = {"prefect.resource.id": f"multimail.webhook.{data['webhook_id']}"}
    else:
        resource = {"prefect.resource.id": f"multimail.event.{envelope['id']}"}
    related = []
    mailbox = data.get("mailbox") or data.get("mailbox_address")
    mailbox_id = data.get("mailbox_id")
    if mailbox_id or mailbox:
        related.append({"prefect.resource.id": f"multimail.mailbox.{mailbox_id or mailbox}", "prefect.resource.role": "mailbox",
                        **({"prefect.resource.name": str(mailbox)} if mailbox else {})})
    if data.get("thread_id"):
        related.append({"prefect.resource.id": f"multimail.thread.{data['thread_id']}", "prefect.resource.role": "thread"})
    return {
        "id": prefect_event_id(envelope["id"]),
        "occurred": envelope["created_at"],
        "event": f"multimail.{type_}",
        "resource": resource,
        "related": related,
        "payload": dict(data),
    }
