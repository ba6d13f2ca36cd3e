"""forward_email: send a stored message (received or sent) on to new recipients.

Forwarded inline, as Gmail, Outlook and Apple Mail do by default: the note, a "Forwarded message"
block with the original's From, Date, Subject, To and Cc, then its text (and HTML), with its
attachments attached again. That is what recipients expect to read in any client, on a phone too;
a message/rfc822 attachment is opened separately by some clients and not at all by others, and
an agent reading the forward back would have to unpack it.

A forward starts a new conversation (its own thread, no In-Reply-To), so oversight treats it as a
send (core/oversight.Action.FORWARD: gated_send holds it). What is forwarded is what the key may
read (services/views.shown_text/shown_html): decision secrets are redacted, remote references
dropped from the HTML. Approval notices and digests are never forwarded: they are the approvers'
mail, and the delivered copy of a notice carries the link that approves.
"""

from __future__ import annotations

import html as html_lib
from typing import Any

from ..core import idempotency as idem
from ..core.access import Principal
from ..core.addresses import parse_address_list
from ..core.errors import Forbidden
from ..core.headers import header_safe
from ..core.oversight import Action
from ..store import messages as message_q
from .approval_notices import SYSTEM_KINDS
from .common import find_message, iso
from .context import Context
from .retention import refuse_purged
from .sending import MAX_SUBJECT, Draft, _fingerprint_content, _metadata, _submit, _text
from .views import shown_addresses, shown_html, shown_text

MAX_NOTE = 64 * 1024


def forward_subject(subject: str) -> str:
    """`Fwd: ` once, as mail clients write it (a forward of a forward is not `Fwd: Fwd:`)."""
    subject = (subject or "").strip()
    return subject if subject.lower().startswith(("fwd:", "fw:")) else f"Fwd: {subject}"


def _header_lines(msg: dict[str, Any]) -> list[tuple[str, str]]:
    when = msg["received_at"] or msg["sent_at"] or msg["created_at"]
    lines = [("From", msg["from_addr"]), ("Date", iso(when) or ""), ("Subject", msg["subject"] or ""),
             ("To", ", ".join(shown_addresses(msg["to_addrs"])))]
    if msg["cc_addrs"]:
        lines.append(("Cc", ", ".join(shown_addresses(msg["cc_addrs"]))))
    return lines


def forwarded_text(msg: dict[str, Any], note: str) -> str:
    block = "\n".join(f"{name}: {value}" for name, value in _header_lines(msg))
    head = f"{note.rstrip()}\n\n" if note.strip() else ""
    return f"{head}---------- Forwarded message ---------\n{block}\n\n{shown_text(msg)}"


def forwarded_html(msg: dict[str, Any], note: str) -> str | None:
    original = shown_html(msg)
    if original is None:
        return None
    esc = html_lib.escape
    block = "<br>".join(f"{esc(name)}: {esc(value)}" for name, value in _header_lines(msg))
    head = f"<p>{esc(note.strip()).replace(chr(10), '<br>')}</p>" if note.strip() else ""
    return (f'{head}<div class="forwarded">---------- Forwarded message ---------<br>{block}<br><br>'
            f"<blockquote>{original}</blockquote></div>")


def forward_email(
    ctx: Context,
    *,
    principal: Principal,
    message_id: str,
    to: str | list[str],
    cc: str | list[str] | None = None,
    bcc: str | list[str] | None = None,
    note: str | None = None,
    oversight_mode: str | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    request_fingerprint: str | None = None,
) -> dict[str, Any]:
    """Forward message `message_id` from its own mailbox (module docstring)."""
    note = _text(note, "note", required=False, max_chars=MAX_NOTE)
    with ctx.store.read() as tx:
        original, mailbox = find_message(tx, principal, message_id)
        if original["kind"] in SYSTEM_KINDS:
            raise Forbidden("Approval notices and digests cannot be forwarded: they are the approvers' mail.",
                            code="not_forwardable", details={"message_id": message_id, "kind": original["kind"]})
        # Purged content (services/retention.py) cannot be forwarded: a forward without the files
        # or with the purge notice for a body is not what the caller asked for (410, nothing stored).
        refuse_purged("content", message_id=message_id, purged_at=original.get("purged_at"))
        attachments = message_q.attachments_of(tx, message_id, with_content=True)
        if attachments:
            refuse_purged("attachments", message_id=message_id, purged_at=original.get("attachments_purged_at"))
    draft = Draft(
        to=parse_address_list(to, "to", required=True),
        cc=parse_address_list(cc, "cc", required=False),
        bcc=parse_address_list(bcc, "bcc", required=False),
        subject=header_safe(forward_subject(original["subject"]))[:MAX_SUBJECT],
        text=forwarded_text(original, note),
        html=forwarded_html(original, note),
        attachments=[{"filename": a["filename"], "content_type": a["content_type"], "size": len(a["content"]),
                      "content": bytes(a["content"])} for a in attachments],
        metadata={**_metadata(metadata), "forwarded_message_id": message_id},
    )
    fingerprint = request_fingerprint or idem.fingerprint({**_fingerprint_content(draft, oversight_mode),
                                                          "forward_of": message_id})
    return _submit(ctx, principal=principal, operation="forward", action=Action.FORWARD, mailbox_ref=mailbox["address"],
                   draft=draft, override=oversight_mode, idempotency_key=idempotency_key, request_fingerprint=fingerprint)
