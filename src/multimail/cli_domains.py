"""`multimail domains ...`: DKIM signing domains. Works directly on the database named by
`--data-dir` / `--database-url`, as the local operator, like the other verbs in cli.py.

Registered in cli.py with `app.add_typer(domains_app, name="domains")`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from .core.access import Principal
from .core.errors import MultiMailError

domains_app = typer.Typer(help="Signing domains: DKIM keys and the DNS records to publish.", no_args_is_help=True)

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Data directory (default ./multimail-data, env MULTIMAIL_DATA_DIR).")]
DatabaseUrl = Annotated[Optional[str], typer.Option("--database-url", help="Database URL (env MULTIMAIL_DATABASE_URL); default SQLite in the data dir.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _ctx(data_dir: Path | None, database_url: str | None):
    from .config import Settings
    from .services.context import Context

    values = {k: v for k, v in {"data_dir": data_dir, "database_url": database_url}.items() if v is not None}
    return Context.from_settings(Settings(**values))


def _run(fn):
    try:
        return fn()
    except MultiMailError as exc:
        typer.echo(f"error {exc.code}: {exc.message}", err=True)
        raise typer.Exit(1) from None


def _print_records(view: dict) -> None:
    typer.echo(f"DNS records for {view['domain']} (DKIM selector {view['selector']}):")
    for rec in view["dns_records"]:
        typer.echo("")
        typer.echo(f"; {rec['purpose']}")
        typer.echo(f"Name:  {rec['name']}")
        typer.echo(f"Type:  {rec['type']}")
        typer.echo(f"Value: {rec['value']}")
        # In a zone file a TXT string is at most 255 characters; longer values are split.
        value = rec["value"]
        chunks = " ".join(f'"{value[i:i + 255]}"' for i in range(0, len(value), 255))
        typer.echo(f"Zone:  {rec['name']}. IN TXT ( {chunks} )")


@domains_app.command("add")
def domains_add(
    domain: str,
    selector: Annotated[Optional[str], typer.Option("--selector", help="DKIM selector (default: multimail).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Generate an RSA-2048 DKIM key for DOMAIN and print the DNS records to publish."""
    from .services.domains import add_domain

    view = _run(lambda: add_domain(_ctx(data_dir, database_url), principal=Principal.local_operator(), domain=domain, selector=selector))
    if as_json:
        typer.echo(json.dumps(view, indent=2))
        return
    typer.echo(f"Added {view['domain']}: mail from it is DKIM-signed from now on. Publish these records:")
    typer.echo("")
    _print_records(view)


@domains_app.command("list")
def domains_list(data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonOut = False) -> None:
    """List signing domains."""
    from .services.domains import list_domains

    rows = _run(lambda: list_domains(_ctx(data_dir, database_url), principal=Principal.local_operator()))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("No signing domains. Add one with `multimail domains add example.com`.")
    for r in rows:
        typer.echo(f"{r['domain']}\tselector={r['selector']}\tadded {r['created_at']}")


@domains_app.command("dns")
def domains_dns(domain: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonOut = False) -> None:
    """Print DOMAIN's DNS records again."""
    from .services.domains import get_domain

    view = _run(lambda: get_domain(_ctx(data_dir, database_url), principal=Principal.local_operator(), domain=domain))
    if as_json:
        typer.echo(json.dumps(view["dns_records"], indent=2))
        return
    _print_records(view)


if __name__ == "__main__":
    domains_app()
