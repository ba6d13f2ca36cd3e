"""How stored rows look to clients: one function per shape in API.md, used by every interface."""

from __future__ import annotations

from typing import Any

from ..core.decision_secrets import redact_addresses, redact_text
from ..core.decision_text import links_section
from ..mail.parse import sanitize_html
from .common import iso

SNIPPET_LENGTH = 200


def snippet(text: str) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= SNIPPET_LENGTH else flat[: SNIPPET_LENGTH - 1] + "…"


def shown_text(msg: dict[str, Any]) -> str:
    """The text body as clients see it, with no secret that could decide a question
    (core/decision_secrets). An outbound question shows the one-click section its external
    recipients get, with placeholders where their links are."""
    text = redact_text(msg["body_text"]) or ""
    if msg.get("kind") == "decision" and msg.get("direction") == "outbound" and msg.get("options") and "one click" not in text:
        text += links_section(msg["options"], None)
    return text


def shown_html(msg: dict[str, Any]) -> str | None:
    """HTML as clients see it: sanitised (nh3), since dashboards and approvers' screens render
    it, and without decision secrets."""
    return redact_text(sanitize_html(msg["body_html"]))


def shown_addresses(addresses: list[str] | None) -> list[str]:
    return redact_addresses(addresses)


def decision_check(msg: dict[str, Any]) -> dict[str, Any] | None:
    """For a reply to a question: whether it decided, and if not why (core/decision_proof)."""
    check = (msg.get("metadata") or {}).get("decision_check")
    if not check:
        return None
    return {k: check.get(k) for k in ("outcome", "decision", "reason", "description", "proof", "question_message_id", "link_sent_to")
            if check.get(k) is not None or k in ("outcome", "reason")}


def mailbox_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "mailbox_id": row["id"],
        "address": row["address"],
        "display_name": row["display_name"],
        "oversight_mode": row["oversight_mode"],
        "min_oversight": row["min_oversight"],
        "idempotency_window_seconds": row["idempotency_window_seconds"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def send_result(msg: dict[str, Any], *, duplicate: bool) -> dict[str, Any]:
    return {
        "message_id": msg["id"],
        "thread_id": msg["thread_id"],
        "status": msg["status"],
        "approval_status": msg["approval_status"],
        "oversight_mode": msg["oversight_mode"],
        "duplicate": duplicate,
    }


def inbox_item(msg: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    return {
        "message_id": msg["id"],
        "thread_id": msg["thread_id"],
        "from": msg["from_addr"],
        "to": msg["to_addrs"],
        "cc": msg["cc_addrs"],
        "subject": msg["subject"],
        "snippet": snippet(redact_text(msg["body_text"]) or ""),
        "received_at": iso(msg["received_at"] or msg["created_at"]),
        "tags": tags,
        "read": msg["read"],
        "is_reply": msg["is_reply"],
        "decision": msg["decision"],
    }


def full_message(
    msg: dict[str, Any], tags: dict[str, str], attachments: list[dict[str, Any]], mailbox: dict[str, Any], base_url: str
) -> dict[str, Any]:
    view = {
        "message_id": msg["id"],
        "thread_id": msg["thread_id"],
        "mailbox": mailbox["address"],
        "internet_message_id": msg["internet_message_id"],
        "in_reply_to": msg["in_reply_to"],
        "references": msg["references"],
        "from": msg["from_addr"],
        "to": shown_addresses(msg["to_addrs"]),
        "cc": shown_addresses(msg["cc_addrs"]),
        "reply_to": shown_addresses(msg["reply_to"]),
        "subject": msg["subject"],
        "body": shown_text(msg),
        "html": shown_html(msg),
        "attachments": [
            {
                "attachment_id": a["id"],
                "filename": a["filename"],
                "content_type": a["content_type"],
                "size": a["size"],
                "url": f"{base_url}/v1/get_attachment?message_id={msg['id']}&attachment_id={a['id']}",
            }
            for a in attachments
        ],
        "tags": tags,
        "direction": msg["direction"],
        "status": msg["status"],
        "approval_status": msg["approval_status"],
        "oversight_mode": msg["oversight_mode"],
        "is_reply": msg["is_reply"],
        "decision": msg["decision"],
        "decision_check": decision_check(msg),
        "options": msg["options"],
        "read": msg["read"],
        "metadata": msg["metadata"],
        "created_at": iso(msg["created_at"]),
        "received_at": iso(msg["received_at"]),
        "sent_at": iso(msg["sent_at"]),
    }
    if msg["direction"] == "outbound":
        view["bcc"] = msg["bcc_addrs"]
        view["failure_reason"] = msg["failure_reason"]
    else:
        # Sender authentication (SPF/DKIM/DMARC) is checked by the SMTP receiver; mail delivered
        # locally between hosted mailboxes is authenticated by the server itself.
        view["authentication"] = (msg["metadata"] or {}).get("authentication")
    return view


def thread_item(msg: dict[str, Any]) -> dict[str, Any]:
    return {
        "message_id": msg["id"],
        "from": msg["from_addr"],
        "to": msg["to_addrs"],
        "cc": msg["cc_addrs"],
        "subject": msg["subject"],
        "body": shown_text(msg),
        "direction": msg["direction"],
        "is_reply": msg["is_reply"],
        "decision": msg["decision"],
        "decision_check": decision_check(msg),
        "options": msg["options"],
        "status": msg["status"],
        "created_at": iso(msg["created_at"]),
    }


def pending_item(msg: dict[str, Any], mailbox: dict[str, Any]) -> dict[str, Any]:
    return {
        "message_id": msg["id"],
        "thread_id": msg["thread_id"],
        "mailbox": mailbox["address"],
        "status": msg["approval_status"],
        "message_status": msg["status"],
        "oversight_mode": msg["oversight_mode"],
        "from": msg["from_addr"],
        "to": msg["to_addrs"],
        "cc": msg["cc_addrs"],
        "bcc": msg["bcc_addrs"],
        "subject": msg["subject"],
        "body": shown_text(msg),
        "html": shown_html(msg),
        "options": msg["options"],
        "metadata": msg["metadata"],
        "created_by": msg["created_by"],
        "created_at": iso(msg["created_at"]),
        "decided_at": iso(msg["decided_at"]),
        "decided_by": msg["decided_by"],
        "decision_note": msg["decision_note"],
    }


def audit_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": row["id"],
        "at": iso(row["at"]),
        "actor": row["actor_key_id"],
        "actor_role": row["actor_role"],
        "mailbox_id": row["mailbox_id"],
        "mailbox": row["mailbox_address"],
        "action": row["action"],
        "message_id": row["message_id"],
        "oversight_mode": row["oversight_mode"],
        "approval_status": row["approval_status"],
        "details": row["details"],
    }


def key_view(row: dict[str, Any]) -> dict[str, Any]:
    from ..core.access import Scope, role_for_scopes

    scopes = frozenset(Scope(s) for s in row["scopes"])
    return {
        "key_id": row["id"],
        "name": row["name"],
        "role": role_for_scopes(scopes).value,
        "scopes": sorted(s.value for s in scopes),
        "mailboxes": row["mailboxes"],
        "prefix": row["key_prefix"],
        "created_at": iso(row["created_at"]),
        "revoked_at": iso(row["revoked_at"]),
    }


def webhook_view(row: dict[str, Any], mailbox_address: str | None) -> dict[str, Any]:
    kind = row["kind"]
    target = row["target"] or {}
    return {
        "webhook_id": row["id"],
        "kind": kind,
        "url": row["url"] if kind == "http" else None,
        **({"deployment": target.get("deployment"), "parameter": target.get("parameter")} if kind == "prefect_deployment" else {}),
        "events": row["events"],
        "mailbox": mailbox_address,
        "enabled": row["enabled"],
        "description": row.get("description") or "",
        "consecutive_failures": row.get("consecutive_failures") or 0,
        "disabled_at": iso(row.get("disabled_at")),
        "disabled_reason": row.get("disabled_reason"),
        "created_at": iso(row["created_at"]),
    }
