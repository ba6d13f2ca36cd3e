"""What the hosted dialect's adapters share: its vocabulary mapped to ours (message states,
event names, times), the shapes its answers take, and the two errors only it gives.

The adapters call the same services as the verb routes; this module only renames. Where the
hosted vocabulary has a word for something this server does not do, the mapping says so here,
once (docs/hosted-api.md explains each).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Path

from ....core.errors import MultiMailError
from ...errors import ErrorBody, responses

TAG = "hosted"
TENANT = "self-hosted"  # the hosted service's tenant; a self-hosted server is one operator's

MailboxId = Path(description="The mailbox's id (mbx_...) or its address; both dialects accept either.")
EmailId = Path(description="The message's id (msg_...), the same id the verb routes use.")


class NotServed(MultiMailError):
    """501: a hosted feature this server does not have yet (scheduled send, contacts, spam...)."""

    status = 501
    code = "not_implemented"


class HostedOnly(MultiMailError):
    """404: a route of the hosted service's account, billing or sign-up, which a self-hosted
    server has no use for; the message names what to do here instead."""

    status = 404
    code = "hosted_only"


def errors(*statuses: int, body: bool = False) -> dict[int | str, dict[str, Any]]:
    """api/errors.responses, plus 501 `not_implemented` for routes with fields this server lacks."""
    out = responses(*[s for s in statuses if s != 501], body=body)
    if 501 in statuses:
        out[501] = {"model": ErrorBody, "description": "A hosted feature this server does not have yet (the field "
                    "is named in details); nothing was changed."}
    return out


# --- message states ---------------------------------------------------------------------------

# Outbound statuses of mail that left or is on its way. The hosted document's status enum has no
# "sent": its outbound mail that went out reads `read`, with `delivered_at` set once handed over.
_GONE_OUT = ["queued", "sending", "sent"]


def email_status(item: dict[str, Any]) -> str:
    """The hosted status word for one of our messages (services/views.email_item or a full view)."""
    if item["direction"] == "inbound":
        spam = item.get("spam") or {}
        if spam.get("state"):
            return "spam_" + spam["state"]
        return "read" if item["read"] else "unread"
    return {"pending": "pending_send_approval", "rejected": "rejected", "cancelled": "cancelled",
            "failed": "send_failed", "bounced": "send_failed", "scheduled": "scheduled"}.get(item["status"], "read")


# The hosted `status` filter as the states of ours it covers (services/reading.list_emails). The
# states this server never has (archived, deleted, inbound approval) match nothing; an inbound
# message in quarantine (services/spam.py) is spam_flagged or spam_quarantined, not unread/read.
STATUS_FILTER: dict[str, list[dict[str, Any]]] = {
    "unread": [{"direction": "inbound", "read": False, "spam": None}],
    "read": [{"direction": "inbound", "read": True, "spam": None}, {"direction": "outbound", "status": _GONE_OUT}],
    "pending_send_approval": [{"direction": "outbound", "status": ["pending"]}],
    "rejected": [{"status": ["rejected"]}],
    "cancelled": [{"status": ["cancelled"]}],
    "send_failed": [{"status": ["failed", "bounced"]}],
    "scheduled": [{"direction": "outbound", "status": ["scheduled"]}],
    "archived": [], "deleted": [], "pending_inbound_approval": [],
    "spam_flagged": [{"direction": "inbound", "spam": ["flagged"]}],
    "spam_quarantined": [{"direction": "inbound", "spam": ["quarantined"]}],
}


# No `status`: everything but the quarantine (spam_flagged / spam_quarantined), as check_inbox
# leaves it out by default; the hosted MCP server's check_inbox and wait_for_email list this
# route, and GET /v1/emails (list_spam) or a spam status shows the quarantine.
NOT_SPAM: list[dict[str, Any]] = [{"direction": "outbound"}, {"direction": "inbound", "spam": None}]


def spam_fields(item: dict[str, Any]) -> dict[str, Any]:
    """The hosted `spam_score` (an integer) and `spam_verdict` (`spam` or `ham`) of a message with a
    verdict (services/spam.spam_view); both null for mail that was never scored."""
    spam = item.get("spam") or {}
    if spam.get("score") is None:
        return {"spam_score": None, "spam_verdict": None}
    return {"spam_score": round(spam["score"]), "spam_verdict": "spam" if spam.get("state") else "ham"}


def delivered_at(item: dict[str, Any]) -> str | None:
    return item.get("sent_at") if item["direction"] == "outbound" else None


def epoch_ms(iso_time: str | None) -> int:
    if not iso_time:
        return 0
    return int(datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp() * 1000)


# --- webhook events ---------------------------------------------------------------------------

# Hosted event names -> ours. The hosted `message.bounced` is both of ours: a permanent refusal at
# hand-over (`message.failed`) and a later delivery report (`message.bounced`, services/bounces.py);
# `message.complained` (an ARF spam complaint) is the same name here.
EVENTS_IN = {
    "oversight.pending": "message.pending",
    "oversight.approved": "message.approved",
    "oversight.rejected": "message.rejected",
    "message.bounced": "message.failed",
}
EVENTS_ALSO = {"message.bounced": ["message.bounced"]}
EVENTS_OUT = {ours: hosted for hosted, ours in EVENTS_IN.items()}


def events_in(events: list[str]) -> list[str]:
    return list(dict.fromkeys(name for e in events for name in (EVENTS_IN.get(e, e), *EVENTS_ALSO.get(e, []))))


def events_out(events: list[str] | None) -> list[str]:
    from ....core.events import EVENT_TYPES

    return list(dict.fromkeys(EVENTS_OUT.get(e, e) for e in (events if events is not None else sorted(EVENT_TYPES))))


# --- shapes -----------------------------------------------------------------------------------


def mailbox_shape(view: dict[str, Any]) -> dict[str, Any]:
    """services/views.mailbox_view in the hosted document's `Mailbox` shape. This server has no
    auto-CC/BCC, forwarding, per-mailbox webhook URL or signature block: those are always empty."""
    return {
        "id": view["mailbox_id"], "tenant_id": TENANT, "address": view["address"],
        "display_name": view["display_name"] or None, "oversight_mode": view["oversight_mode"],
        "min_oversight": view["min_oversight"], "auto_cc": None, "auto_bcc": None, "forward_inbound": 0,
        "webhook_url": None, "oversight_webhook_url": None, "signature_block": None,
        "created_at": epoch_ms(view["created_at"]), "is_active": 1,
        # The hosted MCP server nags until a mailbox is "configured" through it; a self-hosted
        # mailbox is configured by its operator when it is created.
        "mcp_configured": 1,
        "contacts_only": int(view["contacts_only"]),
        "default_gate_timing": view.get("gate_timing") or "gate_first", "scheduling_enabled": 1,
    }


def webhook_shape(view: dict[str, Any], mailbox_ids: dict[str, str]) -> dict[str, Any]:
    shape = {"id": view["webhook_id"], "url": view["url"], "events": events_out(view["events"]),
             "mailbox_id": mailbox_ids.get(view["mailbox"]) if view["mailbox"] else None,
             "created_at": view["created_at"]}
    if "secret" in view:
        shape["signing_secret"] = view["secret"]
    return shape


def key_shape(view: dict[str, Any]) -> dict[str, Any]:
    return {"id": view["key_id"], "name": view["name"], "prefix": view["prefix"], "scopes": view["scopes"],
            "mailboxes": view["mailboxes"], "created_at": view["created_at"], "last_used_at": None,
            "is_active": view["revoked_at"] is None}
