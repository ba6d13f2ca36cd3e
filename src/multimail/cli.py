"""The `multimail` command: run the server, and the verbs a person at a terminal needs.

Verbs other than `serve` work directly on the database named by `--data-dir` / `--database-url`
(the same defaults as `serve`), so they work while a server runs on the same data, and act as the
local operator (audited as `cli`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from .config import Settings
from .core.access import Principal
from .core.errors import MultiMailError

app = typer.Typer(help="MultiMail: email for AI agents, with human oversight.", no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
mailboxes_app = typer.Typer(help="Mailboxes.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(mailboxes_app, name="mailboxes")
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

from .cli_domains import domains_app  # noqa: E402  (its own module: DKIM keys and DNS records)

app.add_typer(domains_app, name="domains")

out = Console()
err = Console(stderr=True)

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Data directory (default ./multimail-data, env MULTIMAIL_DATA_DIR).")]
DatabaseUrl = Annotated[Optional[str], typer.Option("--database-url", help="Database URL (env MULTIMAIL_DATABASE_URL); default SQLite in the data dir.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _settings(data_dir: Path | None, database_url: str | None, **extra) -> Settings:
    values = {k: v for k, v in {"data_dir": data_dir, "database_url": database_url, **extra}.items() if v is not None}
    return Settings(**values)


def _ctx(data_dir: Path | None, database_url: str | None):
    from .services.context import Context

    return Context.from_settings(_settings(data_dir, database_url))


def _run(fn):
    """Run a service call; print its error in API.md's words and exit 1 instead of a traceback."""
    try:
        return fn()
    except MultiMailError as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc.message}")
        raise typer.Exit(1) from None


@app.command()
def serve(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    host: Annotated[Optional[str], typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    http_port: Annotated[Optional[int], typer.Option("--http-port", help="API port (default 8025).")] = None,
    smtp_port: Annotated[Optional[int], typer.Option("--smtp-port", help="Inbound SMTP port (default 2525).")] = None,
    no_smtp: Annotated[bool, typer.Option("--no-smtp", help="Do not start the inbound SMTP server.")] = False,
    smtp_relay: Annotated[Optional[str], typer.Option(
        "--smtp-relay", metavar="URL", show_default=False,
        help="Send outbound mail through this relay: smtp://user:pass@host:587 (STARTTLS required; add "
             "?starttls=optional to use it only when offered) or smtps://user:pass@host:465 (TLS). "
             "Env MULTIMAIL_SMTP_RELAY. Default: capture (nothing leaves the machine).")] = None,
    prefect_api_url: Annotated[Optional[str], typer.Option(
        "--prefect-api-url", metavar="URL", show_default=False,
        help="The Prefect API to resume paused flow runs on and start deployment runs through, e.g. "
             "http://127.0.0.1:4200/api. Env MULTIMAIL_PREFECT_API_URL (and MULTIMAIL_PREFECT_API_KEY for Prefect Cloud).")] = None,
    prefect_events: Annotated[bool, typer.Option(
        "--prefect-events", help="Also emit every event into that Prefect API's event stream (multimail.message.received, "
                                 "multimail.message.approved, ...). Env MULTIMAIL_PREFECT_EVENTS.")] = False,
) -> None:
    """Run the API, inbound SMTP and the delivery worker in one process."""
    import logging

    from .server import serve as run_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic", "mail.log", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = _settings(data_dir, database_url, host=host, http_port=http_port, smtp_port=smtp_port,
                         smtp_enabled=False if no_smtp else None, smtp_relay=smtp_relay,
                         prefect_api_url=prefect_api_url, prefect_events=prefect_events or None)
    if settings.smtp_relay:  # from the flag or MULTIMAIL_SMTP_RELAY: outbound mail goes through the relay
        from .mail.transports import RelayConfig

        try:
            relay = RelayConfig.from_url(settings.smtp_relay)
        except ValueError as exc:
            err.print(f"[red]error[/red] --smtp-relay: {exc}")
            raise typer.Exit(2) from None
        settings.outbound = "smtp"
        print(f"Outbound mail goes through {relay.redacted()}", flush=True)  # never the password
    run_server(settings, announce=lambda line: print(line, flush=True))


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="agent | approver | admin")],
    mailbox: Annotated[Optional[list[str]], typer.Option("--mailbox", help="Limit the key to this mailbox (repeatable).")] = None,
    name: Annotated[str, typer.Option(help="A name to recognise the key by.")] = "",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key; the key itself is printed alone on the last line."""
    from .services.keys import create_key

    ctx = _ctx(data_dir, database_url)
    created = _run(lambda: create_key(ctx, principal=Principal.local_operator(), role=role, mailboxes=mailbox or None, name=name))
    scope = ", ".join(created["mailboxes"]) if created["mailboxes"] else "all mailboxes"
    print(f"Created {created['role']} key {created['key_id']} for {scope}. It is shown only once:")
    print(created["api_key"])


@keys_app.command("list")
def keys_list(data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonOut = False) -> None:
    """List API keys (never their secrets)."""
    from .services.keys import list_keys

    rows = _run(lambda: list_keys(_ctx(data_dir, database_url), principal=Principal.local_operator()))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("key_id", "name", "role", "mailboxes", "created_at", "revoked_at")
    for r in rows:
        table.add_row(r["key_id"], r["name"], r["role"], ", ".join(r["mailboxes"] or ["*"]), r["created_at"], r["revoked_at"] or "")
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Revoke an API key at once."""
    from .services.keys import revoke_key

    _run(lambda: revoke_key(_ctx(data_dir, database_url), principal=Principal.local_operator(), key_id=key_id))
    print(f"Revoked {key_id}.")


@mailboxes_app.command("create")
def mailboxes_create(
    address: str,
    oversight: Annotated[str, typer.Option("--oversight", help="read_only | gated_all | gated_send | monitored | autonomous")] = "gated_send",
    min_oversight: Annotated[Optional[str], typer.Option("--min-oversight", help="The floor per-call overrides may not go below (default: the mode).")] = None,
    display_name: Annotated[str, typer.Option("--display-name")] = "",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a hosted mailbox."""
    from .services.mailboxes import create_mailbox

    row = _run(lambda: create_mailbox(_ctx(data_dir, database_url), principal=Principal.local_operator(), address=address,
                                      oversight_mode=oversight, min_oversight=min_oversight, display_name=display_name))
    print(f"Created {row['address']} ({row['mailbox_id']}), oversight {row['oversight_mode']}, floor {row['min_oversight']}.")


@mailboxes_app.command("list")
def mailboxes_list(data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonOut = False) -> None:
    """List mailboxes."""
    from .services.mailboxes import list_mailboxes

    rows = _run(lambda: list_mailboxes(_ctx(data_dir, database_url), principal=Principal.local_operator()))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("mailbox_id", "address", "oversight_mode", "min_oversight")
    for r in rows:
        table.add_row(r["mailbox_id"], r["address"], r["oversight_mode"], r["min_oversight"])
    out.print(table)


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
    from .services.approvals import list_pending

    rows = _run(lambda: list_pending(_ctx(data_dir, database_url), principal=Principal.local_operator(), mailbox=mailbox))["messages"]
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
    from .services.approvals import approve_message

    item = _run(lambda: approve_message(_ctx(data_dir, database_url), principal=Principal.local_operator(),
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
    from .services.approvals import reject_message

    _run(lambda: reject_message(_ctx(data_dir, database_url), principal=Principal.local_operator(), message_id=message_id, reason=reason))
    print(f"Rejected {message_id}.")


def _when(value: str | None, option: str):
    if value is None:
        return None
    from datetime import datetime, timezone

    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        err.print(f"[red]error[/red] {option} must be an ISO 8601 date or time, e.g. 2026-11-26T00:00:00Z")
        raise typer.Exit(2) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Check the whole chain; exits 1 and names the first bad event if anything was edited,
    inserted or deleted."""
    from .services.audit_chain import verify

    result = verify(_ctx(data_dir, database_url))
    if result["ok"]:
        print(f"audit trail intact: {result['events']} events")
        return
    err.print(f"[red]audit trail broken[/red] at event seq={result['first_bad_seq']} id={result['first_bad_event_id']}: "
              f"{result['reason']} ({result['events_checked']} events checked)")
    raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    since: Annotated[Optional[str], typer.Option(help="Only events at or after this time (ISO 8601).")] = None,
    until: Annotated[Optional[str], typer.Option(help="Only events before this time (ISO 8601).")] = None,
    format: Annotated[str, typer.Option("--format", help="jsonl (one JSON object per line).")] = "jsonl",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write audit events as JSON Lines to stdout, oldest first, with their chain hashes."""
    from .services.audit_chain import export

    if format != "jsonl":
        err.print("[red]error[/red] --format must be jsonl")
        raise typer.Exit(2)
    export(_ctx(data_dir, database_url), since=_when(since, "--since"), until=_when(until, "--until"), out=sys.stdout)


def main() -> None:
    app(prog_name="multimail")


if __name__ == "__main__":
    sys.exit(main())
