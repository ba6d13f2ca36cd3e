"""`multimail pending | approve | reject`: the approver's verbs at the terminal."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from ..core.access import Principal
from .common import DatabaseUrl, DataDir, JsonOut, app, context_for, run


@app.command()
def pending(
    mailbox: Annotated[Optional[str], typer.Option(help="Only this mailbox.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Messages waiting for a human (and those decided in the last 24 h), with all that will
    leave: recipients (cc, bcc, reply-to), attachments, why each was held, and the content_hash
    to give `approve --content-hash` so the approval is for exactly what was shown."""
    from ..services.approvals import list_pending

    rows = run(lambda: list_pending(context_for(data_dir, database_url), principal=Principal.local_operator(), mailbox=mailbox))["messages"]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(_pending_block(r))


def _pending_block(item: dict) -> str:
    """One approval item as lines a person reads in a terminal (a table would fold or cut the
    addresses and the hash): every recipient, reply-to, attachments, why it was held, what the
    HTML rendering left out, and the content_hash an approval can be bound to."""
    held = item.get("held_because") or {}
    lines = [f"{item['message_id']}  {item['status']}  {item['created_at']}",
             f"  held because: {held.get('code', '')}: {held.get('message', '')}".rstrip(": ")]
    for label, key in (("from", "from"), ("to", "to"), ("cc", "cc"), ("bcc", "bcc"), ("reply-to", "reply_to")):
        value = item[key] if isinstance(item[key], str) else ", ".join(item[key])
        if value:
            lines.append(f"  {label}: {value}")
    lines.append(f"  subject: {item['subject']}")
    for att in item["attachments"]:
        lines.append(f"  attachment: {att['filename']} ({att['content_type']}, {att['size']} bytes) {att['attachment_id']}")
    if item["html_note"]:
        lines.append(f"  html: {item['html_note']}")
    for text in item["html_css_text"]:
        lines.append(f"  text added by CSS: {text}")
    for text in item["html_other_text"]:
        lines.append(f"  text in form fields or SVG: {text}")
    lines.append(f"  content_hash: {item['content_hash']}")
    return "\n".join(lines) + "\n"


@app.command()
def approve(
    message_id: str,
    note: Annotated[Optional[str], typer.Option(help="Why (kept in the audit trail).")] = None,
    content_hash: Annotated[Optional[str], typer.Option(
        "--content-hash", help="The content_hash `pending` showed: refuse if the message changed since.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Approve a held message; the server sends it."""
    from ..services.approvals import approve_message

    item = run(lambda: approve_message(context_for(data_dir, database_url), principal=Principal.local_operator(),
                                        message_id=message_id, note=note, content_hash=content_hash))
    print(f"Approved {message_id} (content {item['approved_content_hash']}).")


@app.command()
def reject(
    message_id: str,
    reason: Annotated[Optional[str], typer.Option(help="Why (kept in the audit trail).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Reject a held message; it is never sent."""
    from ..services.approvals import reject_message

    run(lambda: reject_message(context_for(data_dir, database_url), principal=Principal.local_operator(), message_id=message_id, reason=reason))
    print(f"Rejected {message_id}.")


@app.command()
def pause(
    mailbox: Annotated[Optional[str], typer.Option(help="Only this mailbox (default: every mailbox).")] = None,
    reason: Annotated[Optional[str], typer.Option(help="Why, for the audit log.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The kill switch: hand over no outbound mail (of one mailbox, or all) until `multimail resume`.
    Queued and held mail waits; nothing is dropped."""
    from ..services.outbound_pause import pause_outbound

    result = run(lambda: pause_outbound(context_for(data_dir, database_url), principal=Principal.local_operator(),
                                        mailbox=mailbox, reason=reason))
    _print_pauses(result)


@app.command()
def resume(
    mailbox: Annotated[Optional[str], typer.Option(help="Only this mailbox (default: the pause of every mailbox).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Lift a pause: the mail that waited goes out in its queue order."""
    from ..services.outbound_pause import resume_outbound

    _print_pauses(run(lambda: resume_outbound(context_for(data_dir, database_url), principal=Principal.local_operator(),
                                              mailbox=mailbox)))


def _print_pauses(result: dict) -> None:
    if not result["paused"]:
        print("Outbound mail flows: nothing is paused.")
    for p in result["paused"]:
        print(f"Paused: {'every mailbox' if p['all_mailboxes'] else p['mailbox']} since {p['paused_at']} by {p['paused_by']}"
              + (f" ({p['reason']})" if p["reason"] else ""))
