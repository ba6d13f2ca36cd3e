"""API scale-out: `send_email` through 1, 2 and 4 `multimail serve --role api` processes behind one port.

For each process count, in a fresh PostgreSQL database: start the API processes on ONE port with
`--reuse-port` (SO_REUSEPORT: the kernel spreads new connections among the processes, no proxy in
front), create an autonomous mailbox and an agent key, and load `POST /v1/send_email` with `wrk`
(a separate process, loopback; a unique Idempotency-Key per request, so each request is a new
message). No worker process runs: this measures the API tier, and the outbox simply fills.
Prints requests/s, latency, the ratio to one process, how many messages were stored (it must
equal the requests answered 200), and the machine's cores and load average.

    python3 benchmarks/scale_out_api.py --database-url postgresql://postgres@127.0.0.1:5432/test [--processes 1,2,4]

On a machine with C cores, more than C API processes (plus PostgreSQL and wrk, which need cores
too) mostly contend: the figures show where the curve bends, not a cluster's throughput.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import requests
from _harness import BENCH_ENV, fresh_postgres, wrk
from sqlalchemy import create_engine, text

from multimail_server.testing import free_port

KEY_LINE = re.compile(r"(mm_live_[A-Za-z0-9_-]+)")


def start_api(data_dir: str, url: str, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "multimail_server.cli", "serve", "--role", "api", "--reuse-port", "--no-smtp",
           "--data-dir", data_dir, "--http-port", str(port), "--database-url", url]
    log = open(os.path.join(data_dir, "serve.log"), "w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **BENCH_ENV})


def wait_started(proc: subprocess.Popen, data_dir: str, port: int, timeout: float = 120) -> str:
    """Wait until the process answers /health (its line "API on ..." comes before uvicorn listens;
    with SO_REUSEPORT a probe may reach another process, so the log line is awaited too)."""
    path = os.path.join(data_dir, "serve.log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = open(path).read()
        if proc.poll() is not None:
            raise SystemExit(f"an API process exited: {out[-2000:]}")
        if "API on http" in out:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    time.sleep(1.0)  # uvicorn's listen() follows its start-up; give it that moment
                    return out
            except requests.RequestException:
                pass
        time.sleep(0.1)
    raise SystemExit(f"an API process did not start in {timeout} s")


def run(base_url: str, processes: int, duration: int, connections: int) -> dict:
    with fresh_postgres(base_url) as url:
        return _run(url, processes, duration, connections)


def _run(url: str, processes: int, duration: int, connections: int) -> dict:
    tmp = tempfile.mkdtemp(prefix="mm-scale-api-")
    procs: list[subprocess.Popen] = []
    engine = create_engine(url)
    port = free_port()
    try:
        # The first process migrates the empty database and prints the first admin key; the
        # others join it on the same port once it is up.
        first_dir = tempfile.mkdtemp(dir=tmp)
        procs.append(start_api(first_dir, url, port))
        m = KEY_LINE.search(wait_started(procs[0], first_dir, port))
        if not m:
            raise SystemExit("no admin key printed")
        admin_key = m.group(1)
        dirs = [tempfile.mkdtemp(dir=tmp) for _ in range(processes - 1)]
        procs += [start_api(d, url, port) for d in dirs]
        for proc, d in zip(procs[1:], dirs, strict=True):
            wait_started(proc, d, port)
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {admin_key}"}
        box = f"bench-{uuid.uuid4().hex[:8]}@acme.test"
        requests.post(base + "/v1/create_mailbox", headers=auth, json={"address": box, "oversight_mode": "autonomous"},
                      timeout=30).raise_for_status()
        r = requests.post(base + "/v1/create_api_key", headers=auth, json={"role": "agent", "mailboxes": [box]}, timeout=30)
        r.raise_for_status()
        headers = {"Authorization": f"Bearer {r.json()['api_key']}"}
        body = {"from": box, "to": "ana@partner.test", "subject": "weekly report", "body": "the numbers, as promised " * 8}
        url_send = base + "/v1/send_email"
        wrk(url_send, body=body, headers=headers, unique_header="Idempotency-Key", duration=2, connections=connections)
        with engine.connect() as conn:
            before = conn.execute(text("SELECT count(*) FROM messages")).scalar_one()
        res = wrk(url_send, body=body, headers=headers, unique_header="Idempotency-Key", duration=duration,
                  connections=connections)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM messages")).scalar_one() - before
        return {**res, "stored": stored, "load": os.getloadavg()[0]}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database-url", default=os.environ.get("MULTIMAIL_TEST_POSTGRES_URL"),
                   help="a PostgreSQL URL (default MULTIMAIL_TEST_POSTGRES_URL)")
    p.add_argument("--processes", default="1,2,4", help="API process counts to run, comma-separated")
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--connections", type=int, default=16)
    args = p.parse_args()
    if not args.database_url or not args.database_url.startswith(("postgres", "postgresql")):
        raise SystemExit("needs --database-url postgresql://... (several API processes share one PostgreSQL)")
    print(f"send_email through N API processes on one port (SO_REUSEPORT), PostgreSQL, wrk -t2 -c{args.connections}, "
          f"{os.cpu_count()} cores")
    print(f"{'processes':>9}  {'req/s':>7}  {'ratio':>5}  {'p50 ms':>7}  {'p99 ms':>7}  {'stored':>7}  {'non-2xx':>7}  load")
    first = None
    for k in (int(x) for x in args.processes.split(",")):
        r = run(args.database_url, k, args.duration, args.connections)
        first = first or r["rps"]
        print(f"{k:>9}  {r['rps']:>7.0f}  {r['rps'] / first:>5.2f}  {r['p50']:>7.1f}  {r['p99']:>7.1f}  {r['stored']:>7}  "
              f"{r['non2xx'] + r['socket_errors']:>7}  {r['load']:.1f}", flush=True)


if __name__ == "__main__":
    main()
