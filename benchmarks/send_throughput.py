"""Send throughput and idempotent-retry cost, against a real `multimail serve`.

Measures, in one run and on the same server:
  - baseline: GET /health (the HTTP stack alone),
  - distinct sends: POST /v1/send_email, each a new message (held for approval),
  - idempotent replays: the same request again with its Idempotency-Key (what a Prefect retry costs),
  - a burst of 50 identical concurrent sends (must create exactly one message),
and prints requests/s, latency percentiles and the ratios to the baseline.

    python benchmarks/send_throughput.py [--requests 300] [--concurrency 8] [--database-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from _harness import multimail


def timed(n: int, concurrency: int, call) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    local = threading.local()

    def one(i: int):
        if not hasattr(local, "session"):
            local.session = requests.Session()
        t0 = time.perf_counter()
        call(local.session, i)
        dt = time.perf_counter() - t0
        with lock:
            latencies.append(dt)

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(n)))
    return time.perf_counter() - start, latencies


def report(name: str, n: int, elapsed: float, lat: list[float], baseline_rps: float | None) -> float:
    rps = n / elapsed
    q = statistics.quantiles(lat, n=100)
    ratio = f"  {rps / baseline_rps:5.2f}x baseline" if baseline_rps else ""
    print(f"{name:<28} {rps:8.1f} req/s   p50 {q[49] * 1000:6.1f} ms   p95 {q[94] * 1000:6.1f} ms{ratio}")
    return rps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    with multimail(args.database_url) as server:
        base, H = server.base, {"Authorization": f"Bearer {server.admin_key}"}
        box = f"bench-{uuid.uuid4().hex[:8]}@acme.test"
        requests.post(f"{base}/v1/create_mailbox", headers=H, json={"address": box, "oversight_mode": "gated_all"}).raise_for_status()
        n, c = args.requests, args.concurrency
        print(f"server: {args.database_url or 'SQLite (embedded)'}; {n} requests per row, {c} clients\n")

        def health(s, i):
            s.get(f"{base}/health").raise_for_status()

        el, lat = timed(n, c, health)
        base_rps = report("GET /health (baseline)", n, el, lat, None)

        run = uuid.uuid4().hex[:6]

        def send(s, i):
            r = s.post(f"{base}/v1/send_email", headers={**H, "Idempotency-Key": f"{run}-{i}"},
                       json={"from": box, "to": "ana@partner.test", "subject": f"report {i}", "body": "numbers"})
            r.raise_for_status()
            assert r.json()["duplicate"] is False

        el, lat = timed(n, c, send)
        report("send_email (new)", n, el, lat, base_rps)

        def replay(s, i):
            r = s.post(f"{base}/v1/send_email", headers={**H, "Idempotency-Key": f"{run}-{i}"},
                       json={"from": box, "to": "ana@partner.test", "subject": f"report {i}", "body": "numbers"})
            r.raise_for_status()
            assert r.json()["duplicate"] is True

        el, lat = timed(n, c, replay)
        report("send_email (retry, replay)", n, el, lat, base_rps)

        barrier = threading.Barrier(50)
        answers: list[dict] = []

        def burst(s, i):
            barrier.wait()
            r = s.post(f"{base}/v1/send_email", headers=H,
                       json={"from": box, "to": "bob@partner.test", "subject": "burst", "body": "same"})
            r.raise_for_status()
            answers.append(r.json())

        el, lat = timed(50, 50, burst)
        ids = {a["message_id"] for a in answers}
        firsts = sum(not a["duplicate"] for a in answers)
        print(f"\n50 identical concurrent sends: {el * 1000:.0f} ms in all, p95 {statistics.quantiles(lat, n=20)[18] * 1000:.0f} ms;"
              f" {len(ids)} message(s) created, {firsts} non-duplicate answer(s)")
        if len(ids) != 1 or firsts != 1:
            raise SystemExit("FAILED: identical concurrent sends created more than one message")


if __name__ == "__main__":
    main()
