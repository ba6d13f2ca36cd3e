"""What the benchmarks share: a real `multimail serve` (through multimail_server.testing), a
baseline server in its own process, `wrk` as the HTTP load generator (a separate process, on
loopback), RSS of a process, and one way of printing a figure beside its baseline.

Benchmarks are not tests: they start real servers on free loopback ports, load them from another
process, and print what they measured with the ratio to a baseline measured in the same run (on a
shared machine absolute figures are noisy; ratios taken minutes apart on the same box less so).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from multimail_server.testing import SESSION_DNS, TEST_RATE_LIMITS, ServerProcess, free_port

HERE = Path(__file__).resolve().parent

# Load from one IP and a few keys, far past a small team's default rate limits; responses are not
# checked against their declared shape (an operator's server does not run strict).
BENCH_ENV = {**TEST_RATE_LIMITS, "MULTIMAIL_RATE_LIMIT_ENABLED": "false", "MULTIMAIL_STRICT_RESPONSES": "false"}


@contextmanager
def multimail(database_url: str | None = None, *, smtp: bool = False, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """A fresh `multimail serve` on a temporary data directory (SQLite unless `database_url`;
    on PostgreSQL in a fresh database on that server, dropped afterwards, so one script can
    start several servers)."""
    if database_url and database_url.startswith(("postgres", "postgresql")):
        with fresh_postgres(database_url) as url, _serve(url, smtp=smtp, env=env) as server:
            yield server
    else:
        with _serve(database_url, smtp=smtp, env=env) as server:
            yield server


@contextmanager
def _serve(database_url: str | None, *, smtp: bool, env: dict[str, str] | None) -> Iterator[ServerProcess]:
    data_dir = Path(tempfile.mkdtemp(prefix="mm-bench-"))
    # The sender checks (SPF, DKIM, DMARC) answer from a file, as in the test suite: a benchmark
    # measures MultiMail, not this machine's resolver (which has no network here).
    dns = data_dir / "dns.json"
    dns.write_text(json.dumps(SESSION_DNS))
    server = ServerProcess(data_dir, database_url=database_url, smtp=smtp,
                           env={**BENCH_ENV, "MULTIMAIL_DNS_OVERRIDES": str(dns), **(env or {})})
    try:
        if not server.admin_key:
            raise SystemExit("no admin key printed (database not empty?): " + server.log()[-500:])
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def fresh_postgres(database_url: str) -> Iterator[str]:
    """A new, empty database on the server `database_url` names; dropped on the way out."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(make_url(database_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    name = f"mm_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_url).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def post(server: ServerProcess, verb: str, body: dict, key: str | None = None) -> dict:
    r = requests.post(f"{server.base}/v1/{verb}", headers={"Authorization": f"Bearer {key or server.admin_key}"}, json=body, timeout=60)
    if r.status_code >= 400:
        raise SystemExit(f"{verb}: {r.status_code} {r.text}")
    return r.json()


@contextmanager
def baseline_app(db_dir: str | None = None) -> Iterator[str]:
    """The baseline HTTP server (benchmarks/_baseline_app.py) in its own process; yields its URL."""
    port = free_port()
    work = Path(db_dir or tempfile.mkdtemp(prefix="mm-base-"))
    log = open(work / "baseline.log", "w")
    proc = subprocess.Popen([sys.executable, str(HERE / "_baseline_app.py"), "--port", str(port), "--db", str(work / "floor.db")],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/noop", proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited early")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} not up in {timeout}s")


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"port {port} not open in {timeout}s")


# -- wrk ------------------------------------------------------------------------------------------

_WRK_LUA = HERE / "wrk_post.lua"


def need(tool: str, how: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise SystemExit(f"{tool} is not installed ({how})")
    return path


def wrk(url: str, *, body: dict | None = None, headers: dict[str, str] | None = None, threads: int = 2,
        connections: int = 16, duration: int = 10, rate: int | None = None, unique_header: str | None = None) -> dict:
    """Run wrk against `url` (POST of `body` as JSON when given) and return its figures:
    requests/s, latency percentiles in ms, and non-2xx/errors counts. `unique_header` names a
    header wrk sets to a value unique per request (an Idempotency-Key, so each request is new).
    `rate` is a target rate in requests/s (pacing by the Lua script, as wrk has no -R)."""
    need("wrk", "Debian: apt-get install -y wrk")
    env = {**os.environ, "WRK_BODY": json.dumps(body) if body is not None else "",
           "WRK_HEADERS": json.dumps(headers or {}), "WRK_UNIQUE_HEADER": unique_header or "",
           "WRK_RATE": str(rate or 0), "WRK_CONNECTIONS": str(connections)}
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "10s",
           "-s", str(_WRK_LUA), url]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    m = re.search(r"^JSON (.*)$", out, re.M)
    if not m:
        raise SystemExit("wrk printed no figures:\n" + out)
    return json.loads(m.group(1))


# -- figures --------------------------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    """Resident set size of a process and its children (uvicorn runs in the server process)."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def _children(pid: int) -> list[int]:
    try:
        kids = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []
    return kids + [g for k in kids for g in _children(k)]


def percentile(values: list[float], p: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[max(0, min(998, round(p * 10) - 1))]


def row(name: str, value: float, unit: str, *, baseline: float | None = None, extra: str = "", target: str = "") -> None:
    ratio = f"{value / baseline:6.2f}x baseline" if baseline else " " * 15
    print(f"  {name:<44} {value:10.1f} {unit:<6} {ratio}  {extra}{('  target ' + target) if target else ''}", flush=True)


def header(title: str, database_url: str | None) -> None:
    print(f"\n== {title} — {database_url or 'SQLite (embedded)'}; {os.cpu_count()} cores; shared machine: figures are noisy, ratios less so", flush=True)
