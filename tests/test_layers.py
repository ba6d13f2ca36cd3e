"""The house's rules, kept by reading every import of src/multimail_server (as the core purity test does
for core): imports point one way, down the layers; no two modules import each other, even
lazily; SQL stays in store/; mail/ is a codec library on core alone; the SDK imports no server code.

The layers, from the bottom (a module may import its own layer and the layers below it):

    core                                   pure rules
    store, mail, webhooks, client          SQL; MIME/auth codecs; signing & address guard; the SDK
    config                                 settings
    delivery, prefect_api                  transports, outbound signing, the Prefect API client
    services                               the use cases
    api, smtp, dashboard                   interfaces (dashboard: the approvers' web pages)
    mcp                                    the MCP adapter (over the SDK; /mcp authenticates like the API)
    server                                 assembles the interfaces and workers
    cli, testing                           the command (and the test helpers that run it)
    entry                                  the console script
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import multimail_server

ROOT = Path(multimail_server.__file__).parent
LAYERS = [
    {"core"},
    {"store", "mail", "webhooks", "client"},
    {"config"},
    {"delivery", "prefect_api"},
    {"services"},
    {"api", "smtp", "dashboard"},
    {"mcp"},
    {"server"},
    {"cli", "testing"},
    {"entry"},
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
# Beside its own package, each of these may only import what is listed (beyond the rank rule).
ONLY = {"mail": {"core"}, "client": set(), "webhooks": {"core"}, "core": set()}
# Outside store/, sqlalchemy may be named for type hints and its exceptions, never to build SQL;
# multimail_server.testing (tests' helpers, never imported by the server) reads what a server stored.
SQL_UNITS = {"store", "testing"}
SQLALCHEMY_ALLOWED = {("sqlalchemy", "Connection"), ("sqlalchemy", "Engine"), ("sqlalchemy.exc", "*")}


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name, migrations aside (Alembic loads them)."""
    found = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        if "migrations" in rel.parts:
            continue
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = modules()


def _resolve(name: str, path: Path, node: ast.ImportFrom) -> list[str]:
    """The project modules an import statement loads (submodules named in `from X import y` too)."""
    if node.level:
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join(package + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if not base.startswith("multimail"):
        return []
    targets = [base] if base in MODULES else []
    targets += [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
    return targets or [base]


def imports() -> dict[str, list[tuple[str, int]]]:
    """{module: [(imported project module, line)]}, lazy imports inside functions included."""
    graph: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom):
                graph[name] += [(t, node.lineno) for t in _resolve(name, path, node)]
            elif isinstance(node, ast.Import):
                graph[name] += [(a.name, node.lineno) for a in node.names if a.name.startswith("multimail")]
    return graph


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "multimail"


def test_every_unit_has_a_layer():
    units = {unit_of(m) for m in MODULES} - {"multimail"}
    assert units <= set(RANK), f"place {sorted(units - set(RANK))} in LAYERS"


def test_imports_point_down_the_layers():
    problems = []
    for module, targets in imports().items():
        here = unit_of(module)
        if here == "multimail":
            continue
        for target, line in targets:
            there = unit_of(target)
            if there in (here, "multimail"):
                continue
            if RANK[there] >= RANK[here] or (here in ONLY and there not in ONLY[here]):
                problems.append(f"{module}:{line} imports {target} ({here} may not use {there})")
    assert problems == []


def test_no_two_modules_import_each_other():
    graph = {m: {t for t, _ in targets if t in MODULES and t != m} for m, targets in imports().items()}
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    # A package's __init__ that re-exports its own modules is not a cycle of design.
    real = [c for c in cycles if not all(m == c[0] or m.startswith(c[0] + ".") for m in c)]
    assert real == []


def test_sql_is_written_only_in_store():
    problems = []
    for name, path in MODULES.items():
        if unit_of(name) in SQL_UNITS:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sqlalchemy":
                for alias in node.names:
                    if (node.module, alias.name) not in SQLALCHEMY_ALLOWED and (node.module, "*") not in SQLALCHEMY_ALLOWED:
                        problems.append(f"{name}:{node.lineno} from {node.module} import {alias.name}")
            elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "sqlalchemy" for a in node.names):
                problems.append(f"{name}:{node.lineno} import sqlalchemy")
    assert problems == []


def test_the_checks_see_the_real_graph():
    """The rules above would pass vacuously on an empty graph: they read real imports."""
    graph = imports()
    assert any(t == "multimail_server.store.messages" for t, _ in graph["multimail_server.services.receiving"])
    assert any(t.startswith("multimail_server.services") for t, _ in graph["multimail_server.api.routes.sending"])
