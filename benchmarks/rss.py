"""Resident memory of `multimail serve`: idle, then while loaded by the other benchmarks' loads.

Starts a server (SQLite unless --database-url, SMTP on), reads its RSS idle, then runs in turn
`wrk` on send_email, 8 SMTP clients of 1 KB messages, and 1 000 open long-polls (list_pending
with `wait`, over 25 keys since one key may hold 50), reading the RSS during each and after.

    python benchmarks/rss.py [--waiters 1000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
import uuid

import requests
from _harness import header, multimail, post, row, rss_mb, wrk
from smtp_ingest import load

PER_KEY = 40


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--waiters", type=int, default=1000)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    header("RSS of multimail serve", args.database_url)
    with multimail(args.database_url, smtp=True) as server:
        pid = server.proc.pid
        time.sleep(2)
        idle = rss_mb(pid)
        row("idle", idle, "MB", target="<= 150 MB")
        box = f"rss-{uuid.uuid4().hex[:8]}@acme.test"
        post(server, "create_mailbox", {"address": box, "oversight_mode": "autonomous"})
        peak = [idle]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mb(pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        body = {"from": box, "to": "ana@partner.test", "subject": "rss", "body": "x" * 500}
        wrk(server.base + "/v1/send_email", body=body, headers={"Authorization": f"Bearer {server.admin_key}"},
            unique_header="Idempotency-Key", duration=10)
        row("peak while wrk loads send_email", peak[0], "MB", target="<= 300 MB")
        asyncio.run(load(server.smtp_port, box, messages=400, clients=8, size=1024))
        row("peak after SMTP ingest too", peak[0], "MB", target="<= 300 MB")

        gated = f"rss-gated-{uuid.uuid4().hex[:8]}@acme.test"
        post(server, "create_mailbox", {"address": gated, "oversight_mode": "gated_all"})
        held = post(server, "send_email", {"from": gated, "to": "ana@partner.test", "subject": "hold", "body": "b"})
        keys = [post(server, "create_api_key", {"role": "agent", "mailboxes": [gated]})["api_key"]
                for _ in range((args.waiters + PER_KEY - 1) // PER_KEY)]

        def wait(i: int) -> None:
            try:
                requests.get(f"{server.base}/v1/list_pending", params={"message_id": held["message_id"], "wait": 60},
                             headers={"Authorization": f"Bearer {keys[i // PER_KEY]}"}, timeout=90)
            except requests.RequestException:
                pass

        waiters = [threading.Thread(target=wait, args=(i,), daemon=True) for i in range(args.waiters)]
        for t in waiters:
            t.start()
        time.sleep(5)
        row(f"peak with {args.waiters} open long-polls too", peak[0], "MB", target="<= 300 MB")
        post(server, "approve_message", {"message_id": held["message_id"]})
        for t in waiters:
            t.join(30)
        stop.set()
        row("once the long-polls were answered", max(peak[0], rss_mb(pid)), "MB", target="<= 300 MB")


if __name__ == "__main__":
    main()
