"""`multimail domains add | list | dns`: signing domains, their DKIM keys and the DNS records to publish."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from ..core.access import Principal
from .common import DatabaseUrl, DataDir, JsonOut, context_for, group, run

domains_app = group("domains", "Signing domains: DKIM keys and the DNS records to publish.")


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
    from ..services.domains import add_domain

    view = run(lambda: add_domain(context_for(data_dir, database_url), principal=Principal.local_operator(), domain=domain, selector=selector))
    if as_json:
        typer.echo(json.dumps(view, indent=2))
        return
    typer.echo(f"Added {view['domain']}: mail from it is DKIM-signed from now on. Publish these records:")
    typer.echo("")
    _print_records(view)


@domains_app.command("list")
def domains_list(data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonOut = False) -> None:
    """List signing domains."""
    from ..services.domains import list_domains

    rows = run(lambda: list_domains(context_for(data_dir, database_url), principal=Principal.local_operator()))
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
    from ..services.domains import get_domain

    view = run(lambda: get_domain(context_for(data_dir, database_url), principal=Principal.local_operator(), domain=domain))
    if as_json:
        typer.echo(json.dumps(view["dns_records"], indent=2))
        return
    _print_records(view)


if __name__ == "__main__":
    domains_app()
