"""The SDK installs without the server: importing it loads none of the server's dependencies."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

from multimail_server.client import AsyncMultiMail, MultiMail

SERVER_ONLY = ["fastapi", "starlette", "sqlalchemy", "aiosmtpd", "pydantic_settings", "uvicorn",
               "multimail_server.services", "multimail_server.store", "multimail_server.api", "multimail_server.core", "multimail_server.mail",
               "multimail_server.config", "multimail_server.webhooks"]


def test_import_loads_no_server_dependency():
    code = (
        "import json, sys\n"
        "import multimail_server.client\n"
        "from multimail_server.client import MultiMail, AsyncMultiMail, NotFound\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    loaded = set(json.loads(out.stdout))
    assert "multimail_server.client" in loaded and "httpx" in loaded
    leaked = [m for m in SERVER_ONLY if m in loaded or any(x.startswith(m + ".") for x in loaded)]
    assert leaked == [], f"importing multimail_server.client loaded {leaked}"
    own = {m for m in loaded if m.startswith("multimail")}
    assert all(m == "multimail_server" or m.startswith("multimail_server.client") for m in own), own


def _public(cls) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(fn) for name, fn in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_") and name not in ("close", "aclose")}


def test_sync_and_async_clients_have_the_same_methods_and_signatures():
    sync, async_ = _public(MultiMail), _public(AsyncMultiMail)
    assert sync.keys() == async_.keys()
    for name in sync:
        assert str(sync[name]) == str(async_[name]).replace("AsyncIterator", "Iterator"), name
        assert inspect.getdoc(getattr(MultiMail, name)), f"{name} has no docstring"
        assert "Example:" in inspect.getdoc(getattr(MultiMail, name)), f"{name} has no Example"
    for name in sync:
        fn = getattr(AsyncMultiMail, name)
        assert inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn), name
