"""`multimail serve`: the API, the SMTP receiver and the workers, in one process or split by `--role`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Optional

import typer

from .common import DatabaseUrl, DataDir, app, err, settings_for


class LogFormat(StrEnum):
    text = "text"
    json = "json"


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_format: str) -> None:
    """One line per event on stderr: readable text, or a JSON object whose keys are the record's
    own (time, level, logger, message) plus the fields each line passes in `extra` (request ids,
    peers, message ids), so a log shipper never parses the text."""
    import logging

    handler = logging.StreamHandler()
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"levelname": "level", "name": "logger", "asctime": "time"}))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    for noisy in ("alembic", "mail.log", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command()
def serve(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    host: Annotated[Optional[str], typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    http_port: Annotated[Optional[int], typer.Option("--http-port", help="API port (default 8025).")] = None,
    smtp_port: Annotated[Optional[int], typer.Option("--smtp-port", help="Inbound SMTP port (default 2525).")] = None,
    no_smtp: Annotated[bool, typer.Option("--no-smtp", help="Do not start the inbound SMTP server.")] = False,
    reuse_port: Annotated[bool, typer.Option(
        "--reuse-port", help="Bind the API port with SO_REUSEPORT: several `serve --role api` processes on one machine "
                             "share one port, the kernel spreading connections among them (PostgreSQL). "
                             "Env MULTIMAIL_REUSE_PORT.")] = False,
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
    prefect_ui_url: Annotated[Optional[str], typer.Option(
        "--prefect-ui-url", metavar="URL", show_default=False,
        help="The Prefect UI, e.g. http://127.0.0.1:4200: the dashboard links each held message to its flow run "
             "there. Env MULTIMAIL_PREFECT_UI_URL.")] = None,
    rspamd_url: Annotated[Optional[str], typer.Option(
        "--rspamd-url", metavar="URL", show_default=False,
        help="Ask this rspamd (its normal worker, e.g. http://127.0.0.1:11333) for a spam verdict on every inbound "
             "message; without it, the built-in baseline. Env MULTIMAIL_RSPAMD_URL (and MULTIMAIL_RSPAMD_CONTROLLER_URL, "
             "MULTIMAIL_RSPAMD_PASSWORD for training).")] = None,
    role: Annotated[Optional[list[str]], typer.Option(
        "--role", metavar="ROLE", show_default=False,
        help="What this process runs: api (HTTP API and long-polls), smtp (inbound SMTP), worker (delivery, "
             "webhooks, periodic jobs) or all (default). Repeat it or comma-separate (--role api,worker). Any number "
             "of each against one PostgreSQL; on SQLite one worker process per database. Env MULTIMAIL_ROLE.")] = None,
    blob_store: Annotated[Optional[str], typer.Option(
        "--blob-store", metavar="URL", show_default=False,
        help="Keep raw messages and attachment bytes outside the database, content-addressed: file:///path, or any "
             "fsspec URL (s3://bucket/prefix with the s3 extra). Default: in the database. Env MULTIMAIL_BLOB_STORE.")] = None,
    log_format: Annotated[Optional[LogFormat], typer.Option(
        "--log-format", case_sensitive=False, show_default=False,
        help="text (default): readable lines; json: one JSON object per line, for log shippers. "
             "Env MULTIMAIL_LOG_FORMAT.")] = None,
) -> None:
    """Run the API, inbound SMTP and the delivery worker: in one process, or the roles named."""
    from pydantic import ValidationError

    from ..server import PortInUse, RoleRefused
    from ..server import serve as run_server

    try:
        settings = settings_for(data_dir, database_url, host=host, http_port=http_port, smtp_port=smtp_port,
                                smtp_enabled=False if no_smtp else None, smtp_relay=smtp_relay,
                                reuse_port=reuse_port or None,
                                prefect_api_url=prefect_api_url, prefect_events=prefect_events or None, prefect_ui_url=prefect_ui_url,
                                rspamd_url=rspamd_url, log_format=log_format.value if log_format else None,
                                role=",".join(role) if role else None, blob_store=blob_store)
    except ValidationError as exc:
        problem = exc.errors()[0]
        name = ".".join(str(p) for p in problem["loc"])
        flag = "--role" if name == "role" else f"MULTIMAIL_{name.upper()}"
        err.print(f"[red]error[/red] {flag}: {problem['msg'].removeprefix('Value error, ')}", soft_wrap=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_format)
    if settings.smtp_relay:  # from the flag or MULTIMAIL_SMTP_RELAY: outbound mail goes through the relay
        from ..delivery.transports import RelayConfig

        try:
            relay = RelayConfig.from_url(settings.smtp_relay)
        except ValueError as exc:
            err.print(f"[red]error[/red] --smtp-relay: {exc}")
            raise typer.Exit(2) from None
        settings.outbound = "smtp"
        print(f"Outbound mail goes through {relay.redacted()}", flush=True)  # never the password
    try:
        run_server(settings, announce=lambda line: print(line, flush=True))
    except (PortInUse, RoleRefused) as exc:
        err.print(f"[red]error[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
