"""check_inbox at scale: a page of 50 from a mailbox of 100 k messages in a store of 1 M, against
the same query on a store of 10 k (a mailbox of 1 k), in one run.

Each store is made by `multimail serve` (schema, admin key) and then filled directly through the
store layer (`store.messages.insert_many`, a few thousand rows per statement): ten mailboxes,
each message in a thread of ten, half of each mailbox read, one in four tagged. The server is then
started again on it and `wrk` (one connection: latency, not queueing) asks for the first page of
the biggest mailbox, then a page deep in it (a cursor from 90 % down), then the unread ones.

    python benchmarks/check_inbox.py [--large 1000000] [--small 10000] [--duration 8] [--database-url URL]

On a PostgreSQL URL the database must be empty; it is filled and left as it is.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import requests
from _harness import header, multimail, post, row, wrk

from multimail_server.services.reading import encode_cursor
from multimail_server.store import messages as message_q
from multimail_server.store import open_store

MAILBOXES = 10
CHUNK = 5000


def fill(database_url: str, mailbox_ids: list[str], total: int) -> float:
    """Insert `total` inbound messages spread over the mailboxes (the first gets total/10)."""
    store = open_store(database_url)
    started = time.perf_counter()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        for start in range(0, total, CHUNK):
            threads, messages, tags = [], [], []
            for i in range(start, min(total, start + CHUNK)):
                box = mailbox_ids[i % MAILBOXES]
                thread_id = f"thr_bench{(i // (10 * MAILBOXES)) * MAILBOXES + i % MAILBOXES:014d}"
                at = base + timedelta(seconds=i)
                if (i // MAILBOXES) % 10 == 0:
                    threads.append({"id": thread_id, "mailbox_id": box, "subject": f"subject {i}", "created_at": at,
                                    "last_message_at": at})
                mid = f"msg_bench{i:015d}"
                messages.append({
                    "id": mid, "mailbox_id": box, "thread_id": thread_id, "direction": "inbound", "status": "received",
                    "approval_status": None, "oversight_mode": None, "kind": "message",
                    "internet_message_id": f"<{i}.bench@partner.test>", "in_reply_to": None, "references": [],
                    "parent_id": None, "is_reply": False, "from_addr": f"Sender {i % 97} <s{i % 97}@partner.test>",
                    "to_addrs": ["agent@acme.test"], "cc_addrs": [], "bcc_addrs": [], "reply_to": [],
                    "subject": f"subject {i}", "body_text": f"message {i}: " + "the quarterly numbers, as promised. " * 20,
                    "body_html": None, "options": None, "decision": None, "metadata": {}, "raw": None,
                    "raw_sha256": None, "read": (i // MAILBOXES) % 2 == 0, "created_by": None, "created_at": at, "received_at": at,
                })
                if i % 4 == 0:
                    tags.append({"message_id": mid, "key": "triaged", "value": "yes"})
            with store.write(notify=False) as tx:
                message_q.insert_many(tx, threads=threads, messages=messages, tags=tags)
        if store.dialect == "postgresql":
            # A store that grew by traffic has planner statistics (autovacuum analyzes a table
            # once a tenth of it changed); one bulk-loaded a minute ago has those of an empty
            # table, and PostgreSQL then scans message_tags for a page's 50 tags (30 ms at 1 M).
            # After a bulk load, as after pg_restore, one runs ANALYZE.
            with store.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    finally:
        store.dispose()
    return time.perf_counter() - started


def measure(total: int, database_url: str | None, duration: int) -> dict[str, dict]:
    with multimail(database_url) as server:
        ids = [post(server, "create_mailbox", {"address": f"box{k}-{uuid.uuid4().hex[:6]}@acme.test"})["mailbox_id"]
               for k in range(MAILBOXES)]
        server.stop()
        took = fill(server.database_url, ids, total)
        print(f"  filled a store of {total} messages in {took:.0f} s ({total / took:.0f} rows/s)", flush=True)
        server.restart()
        seqs = [r[0] for r in server.query("SELECT seq FROM messages WHERE mailbox_id = :m ORDER BY seq DESC", m=ids[0])]
        headers = {"Authorization": f"Bearer {server.admin_key}"}
        url = server.base + "/v1/check_inbox?"
        first = url + urlencode({"mailbox": ids[0], "limit": 50})
        first_page(first, headers)
        deep = url + urlencode({"mailbox": ids[0], "limit": 50, "cursor": encode_cursor(seqs[int(len(seqs) * 0.9)])})
        unread = url + urlencode({"mailbox": ids[0], "limit": 50, "unread": "true"})
        load = {"threads": 1, "connections": 1, "duration": duration, "headers": headers}
        wrk(first, **{**load, "duration": 2})  # warm up
        return {"first page": wrk(first, **load), "page at 90 %": wrk(deep, **load), "unread": wrk(unread, **load),
                "mailbox": {"size": len(seqs)}}


def first_page(url: str, headers: dict) -> None:
    r = requests.get(url, headers=headers, timeout=30)
    r.raise_for_status()
    body = r.json()
    if len(body["messages"]) != 50:
        raise SystemExit(f"expected a page of 50, got {len(body['messages'])}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--large", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    header("check_inbox, a page of 50", args.database_url)
    small = measure(args.small, args.database_url, args.duration)
    large = measure(args.large, args.database_url, args.duration)
    for name in ("first page", "page at 90 %", "unread"):
        s, l_ = small[name], large[name]
        row(f"baseline: {name}, mailbox of {small['mailbox']['size']} (store {args.small})", s["p50"], "ms p50",
            extra=f"p99 {s['p99']:.2f} ms, {s['rps']:.0f} req/s")
        row(f"{name}, mailbox of {large['mailbox']['size']} (store {args.large})", l_["p50"], "ms p50", baseline=s["p50"],
            extra=f"p99 {l_['p99']:.2f} ms, {l_['rps']:.0f} req/s", target="p50 <= 5 ms, <= 1.5x")


if __name__ == "__main__":
    main()
