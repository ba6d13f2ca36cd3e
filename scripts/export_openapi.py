"""Write the API's OpenAPI document to `docs/openapi.json` (sorted keys, indent 2).

The document is committed so that a change of the API shows up in review as a change of this file,
and so that clients can be generated without running a server. tests/api/test_openapi_current.py
fails when it is stale.

    python3 scripts/export_openapi.py          # rewrite docs/openapi.json
    python3 scripts/export_openapi.py --check  # exit 1 when docs/openapi.json is not what it would write
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))  # this tree's code, whichever checkout is installed
TARGET = ROOT / "docs" / "openapi.json"
REFRESH = "python3 scripts/export_openapi.py"


def openapi_document() -> dict:
    """The document the server serves at /openapi.json: the app is built around a fresh, empty
    database (the document does not depend on the data, only on the routes)."""
    from multimail_server.api.app import create_app
    from multimail_server.config import Settings
    from multimail_server.services import Context

    with tempfile.TemporaryDirectory(prefix="multimail-openapi-") as data_dir:
        ctx = Context.from_settings(Settings(data_dir=Path(data_dir), database_url=None))
        try:
            return create_app(ctx).openapi()
        finally:
            ctx.store.dispose()


def render(doc: dict) -> str:
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/openapi.json is stale")
    args = parser.parse_args(argv)
    expected = render(openapi_document())
    if not args.check:
        TARGET.parent.mkdir(parents=True, exist_ok=True)
        TARGET.write_text(expected, encoding="utf-8")
        return 0
    if TARGET.exists() and TARGET.read_text(encoding="utf-8") == expected:
        return 0
    sys.stderr.write(f"{TARGET.relative_to(ROOT)} is stale (the API changed); refresh it: {REFRESH}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
