"""`multimail_server.core` is pure: it imports nothing of the web, the database or SMTP, nor the rest of the
project. Checked at run time in a clean interpreter, and statically over every import statement
(including the ones inside functions)."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import multimail_server.core

CORE_DIR = Path(multimail_server.core.__file__).parent
CORE_MODULES = sorted(f"multimail_server.core.{m.name}" for m in pkgutil.iter_modules([str(CORE_DIR)]))
# Web, database and SMTP packages, which must not even be loaded indirectly.
FORBIDDEN = {"sqlalchemy", "fastapi", "starlette", "aiosmtpd", "uvicorn", "pydantic", "pydantic_settings", "alembic",
             "psycopg", "psycopg2", "httpx", "requests", "typer", "rich", "smtplib", "sqlite3"}
# I/O modules core must not import itself (the stdlib `email` package loads `socket` on its own).
FORBIDDEN_DIRECT = FORBIDDEN | {"socket", "asyncio", "subprocess", "urllib", "http", "os"}
ALLOWED_THIRD_PARTY = {"email_validator"}
# Pure parsing from packages that also do I/O (urllib.request opens sockets; urllib.parse does not).
ALLOWED_PURE_MODULES = {"urllib.parse"}


def test_core_has_the_expected_modules():
    names = {m.rsplit(".", 1)[1] for m in CORE_MODULES}
    assert {"access", "addresses", "decisions", "errors", "events", "idempotency", "ids", "oversight",
            "threading"} <= names


def test_importing_core_loads_no_web_db_or_smtp_module():
    code = (
        "import importlib, json, sys\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(CORE_DIR.parent.parent))
    loaded = json.loads(out.stdout)
    assert "multimail_server.core.oversight" in loaded  # the check ran against the real modules
    bad = sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN)
    assert bad == []
    outside_core = sorted(m for m in loaded if m.startswith("multimail.") and not m.startswith("multimail_server.core"))
    assert outside_core == []


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield 0, alias.name
        elif isinstance(node, ast.ImportFrom):
            yield node.level, node.module or ""


def test_every_import_statement_in_core_is_stdlib_or_core():
    stdlib = set(sys.stdlib_module_names)
    problems = []
    for path in sorted(CORE_DIR.glob("*.py")):
        for level, module in _imports(path):
            top = module.split(".")[0]
            if level == 0:
                if top == "__future__" or top in ALLOWED_THIRD_PARTY or module in ALLOWED_PURE_MODULES:
                    continue
                if top not in stdlib or top in FORBIDDEN_DIRECT:
                    problems.append(f"{path.name}: import {module}")
            elif level != 1:  # `from ..store import x` leaves the core package
                problems.append(f"{path.name}: from {'.' * level}{module} import ...")
    assert problems == []
