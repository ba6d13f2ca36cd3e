"""The `multimail` command's entry point: a clear message instead of a traceback when only the
SDK is installed (`pip install multimail`) and the server's dependencies are not."""

from __future__ import annotations

import importlib.util
import sys


def main() -> None:
    missing = [name for name in ("typer", "fastapi", "sqlalchemy") if importlib.util.find_spec(name) is None]
    if missing:  # the CLI's and the server's dependencies come together, in the `server` extra
        sys.stderr.write(f"The multimail command needs the server's dependencies ({', '.join(missing)} missing).\n"
                         "Install them with: pip install \"multimail-server[server]\"\n")
        raise SystemExit(2)
    from .cli import main as cli_main

    cli_main()


# `python -m multimail_server.entry` is the `multimail` command too (a checkout run with PYTHONPATH
# has no console script); without this it imported the module and exited 0, silently doing nothing.
if __name__ == "__main__":
    main()
