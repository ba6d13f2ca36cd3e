"""Search at scale: check_inbox `query` on a mailbox of 100 k messages, against the plain first
page of the same mailbox, in one run.

The store is made by `open_store` (migrations, so the search index and its triggers) and filled
through the store layer (`store.messages.insert_many`): MAILBOXES mailboxes of --size messages
each, every body with the same common words and a few rarer ones (a word in every 10th, 1 000th
message, one word unique to one message). Each query then goes through services/reading.
check_inbox in process (the HTTP layer is the same for every query and measured by
check_inbox.py), REPEAT times; the p50 is printed next to the plain page's. On PostgreSQL the
store is vacuumed and analyzed after the fill, as autovacuum would do before long.

    python benchmarks/search.py [--size 100000] [--repeat 30] [--database-url URL]

On a PostgreSQL URL the database must be empty; it is filled and left as it is.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _harness import header, row
from sqlalchemy import text

from multimail_server.config import Settings
from multimail_server.core.access import Principal
from multimail_server.services import mailboxes as mailbox_svc
from multimail_server.services import reading
from multimail_server.services.context import Context
from multimail_server.store import messages as message_q
from multimail_server.store import open_store

MAILBOXES = 2
CHUNK = 5000

QUERIES = [
    ("a common word (every message)", "quarterly"),
    ("a word in 1 of 10", "tenth"),
    ("a word in 1 of 1000", "thousandth"),
    ("a word in one message", "needle77777"),
    ("a phrase", '"numbers as promised"'),
    ("from: a sender (1 of 97)", "from:s42@partner.test"),
    ("subject: and is:unread", 'subject:"subject 501" is:unread'),
    ("words, negation, tag", "quarterly tenth -tag:triaged"),
    ("OR of two rare words", "thousandth OR needle77777"),
    ("prefix", "needle7*"),
]


def fill(store, mailbox_ids: list[str], size: int) -> float:
    started = time.perf_counter()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    total = size * len(mailbox_ids)
    for start in range(0, total, CHUNK):
        threads, messages, tags = [], [], []
        for i in range(start, min(total, start + CHUNK)):
            box = mailbox_ids[i % len(mailbox_ids)]
            n = i // len(mailbox_ids)  # the message's number within its mailbox
            at = base + timedelta(seconds=i)
            thread_id = f"thr_search{i:014d}"
            threads.append({"id": thread_id, "mailbox_id": box, "subject": f"subject {n}", "created_at": at,
                            "last_message_at": at})
            words = ["tenth"] * (n % 10 == 0) + ["thousandth"] * (n % 1000 == 0) + [f"needle{n}"] * (n == 77777)
            mid = f"msg_search{i:015d}"
            messages.append({
                "id": mid, "mailbox_id": box, "thread_id": thread_id, "direction": "inbound", "status": "received",
                "approval_status": None, "oversight_mode": None, "kind": "message",
                "internet_message_id": f"<{i}.search@partner.test>", "in_reply_to": None, "references": [],
                "parent_id": None, "is_reply": False, "from_addr": f"Sender {n % 97} <s{n % 97}@partner.test>",
                "to_addrs": ["agent@acme.test"], "cc_addrs": [], "bcc_addrs": [], "reply_to": [],
                "subject": f"subject {n}", "body_text": f"message {n} {' '.join(words)}: "
                + "the quarterly numbers, as promised. " * 20,
                "body_html": None, "options": None, "decision": None, "metadata": {}, "raw": None,
                "raw_sha256": None, "read": n % 2 == 0, "created_by": None, "created_at": at, "received_at": at,
            })
            if n % 4 == 0:
                tags.append({"message_id": mid, "key": "triaged", "value": "yes"})
        with store.write(notify=False) as tx:
            message_q.insert_many(tx, threads=threads, messages=messages, tags=tags)
    return time.perf_counter() - started


def p50(ctx: Context, who: Principal, mailbox: str, query: str | None, repeat: int) -> tuple[float, int]:
    times, found = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        page = reading.check_inbox(ctx, principal=who, mailbox=mailbox, limit=50, query=query)
        times.append((time.perf_counter() - started) * 1000)
        found = len(page["messages"])
    return statistics.median(times), found


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=100_000, help="messages per mailbox")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    header(f"check_inbox query=, a page of 50 from a mailbox of {args.size} (store of {args.size * MAILBOXES})",
           args.database_url)
    work = Path(tempfile.mkdtemp(prefix="mm-bench-search-"))
    store = open_store(args.database_url or f"sqlite:///{work / 'multimail.db'}")
    try:
        ctx = Context(store=store, settings=Settings(data_dir=work))
        who = Principal.local_operator()
        boxes = [mailbox_svc.create_mailbox(ctx, principal=who, address=f"search{k}@acme.test")["mailbox_id"]
                 for k in range(MAILBOXES)]
        took = fill(store, boxes, args.size)
        if not store.is_sqlite:  # what autovacuum does after a bulk load: statistics, and the GIN pending list flushed
            with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        print(f"  filled (and indexed) {args.size * MAILBOXES} messages in {took:.0f} s "
              f"({args.size * MAILBOXES / took:.0f} rows/s)", flush=True)
        plain, _ = p50(ctx, who, boxes[0], None, args.repeat)
        row("baseline: the first page, no query", plain, "ms p50")
        for name, query in QUERIES:
            ms, found = p50(ctx, who, boxes[0], query, args.repeat)
            row(name, ms, "ms p50", baseline=plain, extra=f"{found} found: {query}", target="p50 <= 50 ms")
    finally:
        store.dispose()


if __name__ == "__main__":
    main()
