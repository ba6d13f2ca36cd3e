"""How stored rows look to clients: one function per shape in the API reference, used by every interface."""

from __future__ import annotations

import re
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

from ..core.content_version import content_version
from ..core.decision_secrets import redact_addresses, redact_text
from ..core.decision_text import links_section
from ..core.oversight import Mode
from ..mail.compose import compose_stored
from ..mail.html import render_html_safely, sanitize_html
from .common import iso

SNIPPET_LENGTH = 200


def snippet(text: str) -> str:
    """The first SNIPPET_LENGTH characters of `text` with its whitespace collapsed. Collapsed from
    a head of the text when that is long enough (collapsing a head gives a prefix of collapsing
    the whole), so a page of 50 large bodies is not split into words to the end of each."""
    text = text or ""
    head = text[: 4 * SNIPPET_LENGTH]
    flat = " ".join(head.split())
    if len(head) < len(text) and len(flat) <= SNIPPET_LENGTH:
        flat = " ".join(text.split())
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
    it, with every remote reference removed (an image or stylesheet fetched from the sender's
    server would tell it who read the message, and when: an approver must not be tracked), and
    without decision secrets."""
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
        "approvers": list(row.get("approvers") or []),
        "approvals_required": row.get("approvals_required") or 1,
        "approval_timeout": row.get("approval_timeout"),
        "on_timeout": row.get("on_timeout") or "reject",
        "escalate_to": list(row.get("escalate_to") or []),
        "digest": row.get("digest"),
        "quiet_hours": row.get("quiet_hours"),
        "contacts_only": bool(row.get("contacts_only")),
        "spam_threshold": row.get("spam_threshold"),
        "retain_bodies_days": row.get("retain_bodies_days"),
        "retain_attachments_days": row.get("retain_attachments_days"),
        "gate_timing": row.get("gate_timing") or "gate_first",
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
        "send_at": iso(msg.get("send_at")),
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
        view["send_at"] = iso(msg.get("send_at"))
        view["bcc"] = msg["bcc_addrs"]
        view["failure_reason"] = msg["failure_reason"]
    else:
        # Sender authentication (SPF/DKIM/DMARC) is checked by the SMTP receiver; mail delivered
        # locally between hosted mailboxes is authenticated by the server itself.
        view["authentication"] = (msg["metadata"] or {}).get("authentication")
        view["spam"] = spam_view(msg)
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


def approval_fields(msg: dict[str, Any]) -> dict[str, Any]:
    """N of M and the timeout of a held message: who approved so far (each approver once), how
    many are needed, when the timeout is due and what happens then."""
    from ..core.approval_policy import HeldPolicy, distinct_approvers

    policy = HeldPolicy.from_json(msg.get("approval_policy"))
    first: dict[str, str] = {}
    for a in msg.get("approvals") or []:
        first.setdefault(a["by"], a["at"])
    return {
        "approvals": [{"by": by, "at": first[by]} for by in distinct_approvers(msg.get("approvals"))],
        "approvals_required": policy.required,
        "approval_due_at": iso(msg.get("approval_due_at")),
        "on_timeout": policy.on_timeout if policy.timeout else None,
        "escalated": policy.escalated,
    }


def pending_item(msg: dict[str, Any], mailbox: dict[str, Any], attachments: list[dict[str, Any]] | None = None,
                 held: dict[str, Any] | None = None) -> dict[str, Any]:
    """An approval item. Given the message's attachments (with their content), it also shows all
    that will leave, for the approver (`review_fields`): every header, every attachment, a safe
    rendering of the HTML, the content version an approval is bound to, and why it was held."""
    item = {
        "message_id": msg["id"],
        "thread_id": msg["thread_id"],
        "mailbox": mailbox["address"],
        # A message withdrawn before it was ever held has no approval status of its own: cancelled;
        # one never held that waits for its send_at (listed for its flow run only): scheduled.
        "status": "cancelled" if msg["status"] == "cancelled" else msg["approval_status"] or (
            "scheduled" if msg["status"] == "scheduled" else None),
        "message_status": msg["status"],
        "oversight_mode": msg["oversight_mode"],
        "send_at": iso(msg.get("send_at")),
        "from": msg["from_addr"],
        "to": msg["to_addrs"],
        "cc": msg["cc_addrs"],
        "bcc": msg["bcc_addrs"],
        "reply_to": msg["reply_to"],
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
        "approved_content_hash": msg.get("approved_content_hash"),
        **approval_fields(msg),
    }
    if attachments is not None:
        item.update(review_fields(msg, attachments, held))
    return item


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


# --- what an approver sees (finding 5 of the trust issue) --------------------------------------


def outbound_extra_headers(msg: dict[str, Any]) -> dict[str, str]:
    """The extra headers the delivery worker composes into every outbound message
    (mail/compose.compose_stored); part of the content version."""
    return {"X-MultiMail-Message-Id": msg["id"]}


def message_version(msg: dict[str, Any], attachments: list[dict[str, Any]]) -> str:
    """The content version (core/content_version) of a stored outbound message: over the stored
    fields, which are what the approver is shown and what the delivery worker composes."""
    return content_version(
        from_addr=msg["from_addr"], to=msg["to_addrs"], cc=msg["cc_addrs"], bcc=msg["bcc_addrs"],
        reply_to=msg["reply_to"], subject=msg["subject"], text=msg["body_text"], html=msg["body_html"],
        attachments=attachments, in_reply_to=msg["in_reply_to"], references=msg["references"] or [],
        extra_headers=outbound_extra_headers(msg),
    )


# Headers the server adds to the composed bytes when it hands the message over.
HEADERS_ADDED_WHEN_SENT = [
    ["X-MultiMail-Identity", "(added when sent: the server's signed claim of mailbox, oversight mode and approver)"],
    ["DKIM-Signature", "(added when sent, when the sender's domain has a DKIM key)"],
]
_BOUNDARY = re.compile(r'boundary="?[^";]*"?')


def recipient_headers(msg: dict[str, Any], attachments: list[dict[str, Any]]) -> list[list[str]]:
    """Every header a recipient will see, read from the message composed exactly as the delivery
    worker composes it (so nothing is left out by a hand-made list), decoded as a mail client
    shows them. The Date of a held message is the time of its approval; MIME boundaries are
    chosen anew at each composition."""
    # Headers do not depend on attachment bytes (only on there being attachments); an item
    # listed without them is composed with empty ones.
    raw = compose_stored(msg, [{**a, "content": a.get("content") or b""} for a in attachments])
    parsed = BytesParser(policy=default_policy).parsebytes(raw, headersonly=True)
    headers = []
    for name, value in parsed.items():
        value = str(value)
        if name.lower() == "date" and msg["approval_status"] == "pending":
            value = "(the time of approval)"
        elif name.lower() == "content-type":
            value = _BOUNDARY.sub('boundary="(chosen when sent)"', value)
        headers.append([name, value])
    added = [list(h) for h in HEADERS_ADDED_WHEN_SENT]
    if msg.get("kind") == "decision" and msg.get("options"):
        added.append(["Reply-To", "(for external recipients: the question's private reply address, which lets their "
                                  "reply prove itself; hosted mailboxes get the copy without it)"])
    return headers + added


def attachment_items(attachments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"attachment_id": a["id"], "filename": a["filename"], "content_type": a["content_type"], "size": a["size"]}
            for a in attachments]


def review_fields(msg: dict[str, Any], attachments: list[dict[str, Any]], held: dict[str, Any] | None) -> dict[str, Any]:
    """All that will leave, as the approver must see it, in one place for the API, the CLI and
    dashboards: the headers, the attachments (name, type, size), the HTML rendered safely (no
    remote content, no CSS, with a note of what was left out), the content version, and why the
    message was held. `attachments` carry their content or its `sha256` (part of the version)."""
    rendering = render_html_safely(msg["body_html"])
    try:
        headers = recipient_headers(msg, attachments)
    except Exception as exc:  # content the composer refuses would fail at delivery too: say so, do not 500
        headers = [["(not composable)", f"{type(exc).__name__}: the delivery worker could not compose this message"]]
    return {
        "content_hash": message_version(msg, attachments),
        "headers": headers,
        "attachments": attachment_items(attachments),
        "html": shown_html(msg),  # render_html_safely's HTML (sanitize_html), links redacted
        "html_remote_content_blocked": rendering.remote_blocked,
        "html_css_removed": rendering.css_removed,
        "html_css_text": rendering.css_text,
        "html_other_text": rendering.other_text,
        "html_note": rendering.note,
        "held_because": held if held is not None else held_because_fallback(msg),
    }


# What read_email adds to a held (or decided) outbound message: what its approver is shown.
REVIEW_KEYS = ("content_hash", "headers", "html_remote_content_blocked", "html_css_removed", "html_css_text",
               "html_other_text", "html_note", "held_because", "approved_content_hash")


def held_because(*, mode: Mode | str, mailbox_mode: str, override: Mode | str | None, operation: str,
                 new_conversation: dict[str, Any] | None, unknown_contacts: list[str] | None = None) -> dict[str, Any]:
    """Why a message was held, in words an approver reads and a code a program routes on;
    recorded in the message's audit event when it is held and shown with the pending item.
    `unknown_contacts`: the recipients a contacts_only mailbox held it for (it would have gone out)."""
    mode = Mode(mode)
    recipients = (new_conversation or {}).get("recipients", [])
    if unknown_contacts:
        recipients = [{"address": a, "why": "not_a_contact"} for a in unknown_contacts]
        reason = {"code": "contacts_only_unknown_recipients",
                  "message": "The mailbox sends on its own only to its approved contacts (contacts_only); "
                             f"not among them: {', '.join(unknown_contacts)}."}
    elif override is not None and Mode(override) != Mode(mailbox_mode):
        reason = {"code": "per_call_override",
                  "message": f"The call asked for {Mode(override).value} (the mailbox's mode is {mailbox_mode})."}
    elif mode is Mode.GATED_ALL:
        reason = {"code": "gated_all", "message": "The mailbox holds every outbound message (gated_all)."}
    elif new_conversation is not None:
        reason = {"code": f"gated_send_{new_conversation['reason']}",
                  "message": "gated_send holds a reply that starts a new conversation. " + new_conversation["message"]}
    else:
        reason = {"code": "gated_send_new_conversation",
                  "message": f"gated_send holds a message that starts a conversation ({operation})."}
    return {**reason, "mode": mode.value, "recipients": recipients}


def held_because_fallback(msg: dict[str, Any]) -> dict[str, Any] | None:
    """For messages held before the reason was recorded: what their mode implies."""
    if msg["approval_status"] is None:
        return None
    code = "gated_all" if msg["oversight_mode"] == Mode.GATED_ALL.value else "gated_send_new_conversation"
    return {"code": code, "message": f"Held under {msg['oversight_mode']} (no detailed reason was recorded).",
            "mode": msg["oversight_mode"], "recipients": []}


def spam_view(msg: dict[str, Any]) -> dict[str, Any]:
    """An inbound message's spam verdict and quarantine state (services/spam.py, core/spam.py)."""
    verdict = msg.get("spam_verdict") or {}
    return {
        "state": msg.get("spam_state"),
        "label": msg.get("spam_label"),
        "source": verdict.get("source"),
        "score": verdict.get("score"),
        "action": verdict.get("action"),
        "symbols": [{"name": s.get("name"), "score": s.get("score")} for s in verdict.get("symbols") or []],
    }


def email_item(msg: dict[str, Any], has_attachments: bool) -> dict[str, Any]:
    """A message of either direction in a mailbox listing (services/reading.list_emails), in
    this server's vocabulary; the hosted API's adapters rename it (api/routes/hosted)."""
    return {
        "message_id": msg["id"],
        "thread_id": msg["thread_id"],
        "direction": msg["direction"],
        "status": msg["status"],
        "approval_status": msg["approval_status"],
        "read": msg["read"],
        "from": msg["from_addr"],
        "to": shown_addresses(msg["to_addrs"]),
        "cc": shown_addresses(msg["cc_addrs"]),
        "subject": msg["subject"],
        "has_attachments": has_attachments,
        "received_at": iso(msg["received_at"] or msg["created_at"]),
        "sent_at": iso(msg["sent_at"]),
        "send_at": iso(msg.get("send_at")),
        "decided_at": iso(msg["decided_at"]),
        "decided_by": msg["decided_by"],
        "spam": spam_view(msg) if msg["direction"] == "inbound" else None,
    }
