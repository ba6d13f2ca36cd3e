"""send_email throughput against the floor of a durable write, and 50 identical concurrent sends.

In one run, each row loaded by `wrk` (a separate process, loopback, -t2 -c16 by default):
  - baseline: a FastAPI endpoint committing one SQLite (WAL) insert per request
    (benchmarks/_baseline_app.py POST /insert), and its no-op endpoint (the HTTP stack alone);
  - send_email, autonomous mailbox, capture mode, each request new (a unique Idempotency-Key),
    at full speed, then paced at half the rate it reached (p99 there is the latency target);
  - 50 identical concurrent send_email (no key: the content fingerprint de-duplicates): exactly
    one message, and the p99 of the 50 answers.

    python benchmarks/send_email.py [--duration 10] [--connections 16] [--database-url URL]
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid

import requests
from _harness import baseline_app, header, multimail, percentile, post, row, wrk


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    header("send_email throughput", args.database_url)
    body = {"from": "", "to": "ana@partner.test", "subject": "weekly report", "body": "the numbers, as promised " * 8}
    load = {"threads": 2, "connections": args.connections, "duration": args.duration}
    with baseline_app() as base:
        wrk(base + "/insert", body=body, duration=2, connections=args.connections)  # warm up
        noop = wrk(base + "/noop", **load)
        floor = wrk(base + "/insert", body=body, **load)
    row("no-op FastAPI endpoint", noop["rps"], "req/s", extra=f"p99 {noop['p99']:.1f} ms")
    row("baseline: one durable SQLite insert", floor["rps"], "req/s", extra=f"p99 {floor['p99']:.1f} ms")

    with multimail(args.database_url) as server:
        box = f"bench-{uuid.uuid4().hex[:8]}@acme.test"
        post(server, "create_mailbox", {"address": box, "oversight_mode": "autonomous"})
        agent = post(server, "create_api_key", {"role": "agent", "mailboxes": [box]})["api_key"]
        headers = {"Authorization": f"Bearer {agent}"}
        body = {**body, "from": box}
        url = server.base + "/v1/send_email"
        wrk(url, body=body, headers=headers, unique_header="Idempotency-Key", duration=2, connections=args.connections)
        full = wrk(url, body=body, headers=headers, unique_header="Idempotency-Key", **load)
        half_rate = max(1, int(full["rps"] / 2))
        half = wrk(url, body=body, headers=headers, unique_header="Idempotency-Key", rate=half_rate, **load)
        bad = full["non2xx"] + full["socket_errors"] + half["non2xx"] + half["socket_errors"]
        row("send_email, new messages", full["rps"], "req/s", baseline=floor["rps"],
            extra=f"p99 {full['p99']:.1f} ms", target=">= 0.5x")
        row(f"send_email at half that rate ({half_rate}/s)", half["rps"], "req/s",
            extra=f"p50 {half['p50']:.1f} ms  p99 {half['p99']:.1f} ms (target <= 25 ms)")
        if bad:
            print(f"  !! {bad} non-2xx answers or socket errors")

        barrier = threading.Barrier(50)
        answers: list[dict] = []
        latencies: list[float] = []
        lock = threading.Lock()
        same = {**body, "subject": "burst", "body": "identical"}

        def one() -> None:
            s = requests.Session()
            barrier.wait()
            t0 = time.perf_counter()
            r = s.post(url, headers=headers, json=same, timeout=30)
            dt = time.perf_counter() - t0
            r.raise_for_status()
            with lock:
                answers.append(r.json())
                latencies.append(dt * 1000)

        threads = [threading.Thread(target=one) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ids = {a["message_id"] for a in answers}
        firsts = sum(not a["duplicate"] for a in answers)
        row("50 identical concurrent sends: p99", percentile(latencies, 99), "ms",
            extra=f"{len(ids)} message(s), {firsts} first answer(s)", target="exactly one, <= 100 ms")
        if len(ids) != 1 or firsts != 1:
            raise SystemExit("FAILED: identical concurrent sends created more than one message")


if __name__ == "__main__":
    main()
