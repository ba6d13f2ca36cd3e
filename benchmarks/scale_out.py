"""Outbound delivery scale-out: 1, 2 and 4 `multimail serve --role worker` processes on one PostgreSQL.

For each worker count, in a fresh database: start the workers (capture mode, nothing leaves the
machine), queue N messages in one transaction (one sent through send_email, the rest its clones
with new ids, so the queue is what N sends would leave), and time from that commit (which
NOTIFYs the workers) until the outbox is empty. Prints messages/s, the ratio to one worker, and
each worker's share (its own delivery counter in GET /metrics); checks every message was
captured exactly once.

    python3 benchmarks/scale_out.py --database-url postgresql://postgres@127.0.0.1:5432/test [--messages 5000]

The URL names any database on the server (MULTIMAIL_TEST_POSTGRES_URL by default); a fresh one
is created and dropped for each run. On a machine with C cores, more than C worker processes
mostly contend: the figures show where the curve bends.
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
from concurrent.futures import ThreadPoolExecutor

import requests
from _harness import fresh_postgres
from sqlalchemy import create_engine, insert, select, text

from multimail_server.testing import free_port

TOKEN = "bench-metrics"


def start_worker(data_dir: str, url: str):
    port = free_port()
    cmd = [sys.executable, "-m", "multimail_server.cli", "serve", "--role", "worker", "--data-dir", data_dir,
           "--http-port", str(port), "--database-url", url]
    log = open(os.path.join(data_dir, f"worker-{port}.log"), "w")
    env = {**os.environ, "MULTIMAIL_METRICS_TOKEN": TOKEN}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"worker exited: {open(log.name).read()[-2000:]}")
        try:
            if requests.get(base + "/ready", timeout=1).status_code == 200:
                return proc, base
        except requests.RequestException:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("worker not ready in 180 s")


def delivered_by(base: str) -> int:
    body = requests.get(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).text
    m = re.search(r'^multimail_delivery_attempts_total\{outcome="sent"\} ([0-9.e+]+)$', body, re.M)
    return int(float(m.group(1))) if m else 0


def queue(url: str, n: int) -> None:
    """N queued autonomous messages: one through send_email, N-1 clones, one commit."""
    from multimail_server.config import Settings
    from multimail_server.core.access import Principal
    from multimail_server.services import Context
    from multimail_server.services import mailboxes as mailbox_svc
    from multimail_server.services import sending as sending_svc
    from multimail_server.store import open_store
    from multimail_server.store import tables as t

    store = open_store(url, migrate=False)
    try:
        ctx = Context(store=store, settings=Settings(database_url=url))
        operator = Principal.local_operator()
        box = f"bench-{uuid.uuid4().hex[:8]}@acme.test"
        mailbox_svc.create_mailbox(ctx, principal=operator, address=box, oversight_mode="autonomous")
        first = sending_svc.send_email(ctx, principal=operator, sender=box, to="someone@partner.test",
                                       subject="bench 0", body="one of many")["message_id"]
        with store.read() as tx:
            msg = dict(tx.execute(select(t.messages).where(t.messages.c.id == first)).mappings().one())
            row = dict(tx.execute(select(t.outbox).where(t.outbox.c.message_id == first)).mappings().one())
        msg.pop("seq")
        msg.update(status="queued", sent_at=None, raw=None, failure_reason=None)
        row.pop("seq")
        row.update(state="ready", attempts=0, locked_until=None, last_error=None, handoff_started_at=None, handoff_result=None)
        ids = [f"msg_bench{i:06d}{uuid.uuid4().hex[:8]}" for i in range(1, n)]
        with store.write() as tx:
            for start in range(0, len(ids), 2000):
                chunk = ids[start:start + 2000]
                tx.execute(insert(t.messages), [{**msg, "id": i, "internet_message_id": f"<{i}@acme.test>"} for i in chunk])
                tx.execute(insert(t.outbox), [{**row, "message_id": i} for i in chunk])
    finally:
        store.dispose()


def left(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM outbox WHERE state <> 'done'")).scalar_one()


def run(base_url: str, workers: int, n: int) -> dict:
    with fresh_postgres(base_url) as url:
        return _run(url, workers, n)


def _run(url: str, workers: int, n: int) -> dict:
    tmp = tempfile.mkdtemp(prefix="mm-scale-")
    procs = []
    engine = create_engine(url)
    try:
        from multimail_server.store import open_store

        open_store(url).dispose()  # migrate once, before the workers race for it
        with ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(start_worker, tempfile.mkdtemp(dir=tmp), url) for _ in range(workers)]
        procs = [f.result() for f in futures if f.exception() is None]  # stopped below, whatever happens
        for f in futures:
            f.result()
        queue(url, n)
        start = time.monotonic()
        while left(engine):
            time.sleep(0.05)
        took = time.monotonic() - start
        with engine.connect() as conn:
            copies = conn.execute(text("SELECT count(*), count(DISTINCT message_id) FROM captured_mail")).one()
        assert tuple(copies) == (n, n), f"captured {copies[0]} copies of {copies[1]} messages, expected {n} of {n}"
        return {"workers": workers, "seconds": took, "rate": n / took, "shares": [delivered_by(b) for _, b in procs]}
    finally:
        for proc, _ in procs:
            proc.terminate()
        for proc, _ in procs:
            proc.wait(15)
        engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database-url", default=os.environ.get("MULTIMAIL_TEST_POSTGRES_URL"),
                   help="a PostgreSQL URL (default MULTIMAIL_TEST_POSTGRES_URL)")
    p.add_argument("--messages", type=int, default=5000)
    p.add_argument("--workers", default="1,2,4", help="worker counts to run, comma-separated")
    args = p.parse_args()
    if not args.database_url or not args.database_url.startswith(("postgres", "postgresql")):
        raise SystemExit("needs --database-url postgresql://... (several worker processes need PostgreSQL)")
    print(f"outbound delivery, capture mode, {args.messages} messages, {os.cpu_count()} cores")
    print(f"{'workers':>7}  {'seconds':>8}  {'msg/s':>7}  {'ratio':>5}  shares")
    first = None
    for k in (int(x) for x in args.workers.split(",")):
        r = run(args.database_url, k, args.messages)
        first = first or r["rate"]
        print(f"{r['workers']:>7}  {r['seconds']:>8.1f}  {r['rate']:>7.0f}  {r['rate'] / first:>5.2f}  {r['shares']}", flush=True)


if __name__ == "__main__":
    main()
