"""What every verb of the `multimail` command shares: the Typer apps, the consoles, the option
types, how a verb opens the database and how it reports a service error.

Verbs other than `serve` work directly on the database named by `--data-dir` / `--database-url`
(the same defaults as `serve`), so they work while a server runs on the same data, and act as the
local operator (audited as `cli`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from ..config import Settings
from ..core.errors import MultiMailError

# Plain (click) help screens: Typer's rich help shows flags as `--json <bool>` with click 8.4, as
# if they took a value; the plain ones show `--json`.
HELP_STYLE: dict[str, Any] = {"rich_markup_mode": None}

app = typer.Typer(help="MultiMail: email for AI agents, with human oversight.", no_args_is_help=True, add_completion=False,
                  **HELP_STYLE)

out = Console()
err = Console(stderr=True)

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Data directory (default ./multimail-data, env MULTIMAIL_DATA_DIR).")]
DatabaseUrl = Annotated[Optional[str], typer.Option("--database-url", help="Database URL (env MULTIMAIL_DATABASE_URL); default SQLite in the data dir.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        print(f"multimail {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """MultiMail: email for AI agents, with human oversight."""


def group(name: str, help: str) -> typer.Typer:
    """A command group (`multimail keys ...`), registered on the main app."""
    sub = typer.Typer(help=help, no_args_is_help=True, **HELP_STYLE)
    app.add_typer(sub, name=name)
    return sub


def settings_for(data_dir: Path | None, database_url: str | None, **extra) -> Settings:
    values = {k: v for k, v in {"data_dir": data_dir, "database_url": database_url, **extra}.items() if v is not None}
    return Settings(**values)


def context_for(data_dir: Path | None, database_url: str | None, **extra):
    """The store of a running (or stopped) server, for a verb other than `serve`. A path or URL
    that holds no MultiMail store is refused, naming what was looked at: run from another folder,
    `multimail keys create` would otherwise make a fresh empty store and print a key the running
    server does not know."""
    from ..services.context import Context
    from ..store.migrate import holds_store

    settings = settings_for(data_dir, database_url, **extra)
    url = settings.resolved_database_url()
    if not holds_store(url):
        where = url.split("@")[-1] if settings.database_url else str(Path(settings.data_dir).resolve() / "multimail.db")
        err.print(f"[red]error[/red] no MultiMail store at {where}. Point at the one `multimail serve` uses with "
                  "--data-dir DIR or --database-url URL (or MULTIMAIL_DATA_DIR / MULTIMAIL_DATABASE_URL); "
                  "`multimail serve` prints the path it uses.", soft_wrap=True)
        raise typer.Exit(1)
    return Context.from_settings(settings)


def run(fn):
    """Run a service call; print its error in the API's words and exit 1 instead of a traceback."""
    try:
        return fn()
    except MultiMailError as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc.message}")
        raise typer.Exit(1) from None
