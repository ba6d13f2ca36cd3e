"""What open long-polls cost the writes of everyone else, against a real `multimail serve`.

Measures the latency of one small committed write (tag_email on an unrelated message) on an idle
server, then again while N long-polls (list_pending with `wait`, spread over several keys, since
one key may hold at most 50) are parked, and prints both medians and their ratio. Before the
shared version check each commit re-ran every waiter's read, and 150 waiters made each write
10-50x slower; now the ratio should be close to 1.

    python benchmarks/long_polls.py [--waiters 150] [--writes 50] [--database-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid

import requests
from _harness import multimail

PER_KEY = 30


def post(base: str, key: str, verb: str, body: dict) -> dict:
    r = requests.post(f"{base}/v1/{verb}", headers={"Authorization": f"Bearer {key}"}, json=body, timeout=30)
    r.raise_for_status()
    return r.json()


def write_latencies(base: str, key: str, message_id: str, n: int) -> list[float]:
    session = requests.Session()
    out = []
    for i in range(n):
        start = time.perf_counter()
        session.post(f"{base}/v1/tag_email", headers={"Authorization": f"Bearer {key}"},
                     json={"message_id": message_id, "tags": {"n": str(i)}}, timeout=30).raise_for_status()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--waiters", type=int, default=150)
    ap.add_argument("--writes", type=int, default=50)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    with multimail(args.database_url) as server:
        base, admin = server.base, server.admin_key
        box, other = (f"bench-{uuid.uuid4().hex[:8]}@acme.test" for _ in range(2))
        for address in (box, other):
            post(base, admin, "create_mailbox", {"address": address, "oversight_mode": "gated_send"})
        unrelated = post(base, admin, "send_email", {"from": other, "to": "x@partner.test", "subject": "s", "body": "b"})
        held = [post(base, admin, "send_email", {"from": box, "to": "x@partner.test", "subject": f"h{i}", "body": "b"})
                for i in range(10)]
        keys = [post(base, admin, "create_api_key", {"role": "agent", "mailboxes": [box]})["api_key"]
                for _ in range((args.waiters + PER_KEY - 1) // PER_KEY)]
        write_latencies(base, admin, unrelated["message_id"], 10)  # warm up
        idle = statistics.median(write_latencies(base, admin, unrelated["message_id"], args.writes))

        def wait(i: int) -> None:
            requests.get(f"{base}/v1/list_pending", params={"message_id": held[i % 10]["message_id"], "wait": 60},
                         headers={"Authorization": f"Bearer {keys[i // PER_KEY]}"}, timeout=90)

        threads = [threading.Thread(target=wait, args=(i,), daemon=True) for i in range(args.waiters)]
        for t in threads:
            t.start()
        time.sleep(3)
        loaded = statistics.median(write_latencies(base, admin, unrelated["message_id"], args.writes))
        print(f"server: {args.database_url or 'SQLite (embedded)'}")
        print(f"tag_email median, idle:                  {idle * 1000:7.1f} ms")
        print(f"tag_email median, {args.waiters:4d} open long-polls: {loaded * 1000:7.1f} ms")
        print(f"ratio:                                   {loaded / idle:7.2f}x")
        for h in held:
            post(base, admin, "approve_message", {"message_id": h["message_id"]})
        for t in threads:
            t.join(30)


if __name__ == "__main__":
    main()
