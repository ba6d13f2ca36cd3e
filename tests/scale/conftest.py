"""Several `multimail serve --role ...` processes against one fresh PostgreSQL database
(MULTIMAIL_TEST_POSTGRES_URL; skipped without it, a failure under CI=true).

Processes start in parallel, as an operator's N units would at boot, so every test also shows
that concurrent starters on one database take turns migrating (store/migrate.py) instead of
racing. The queue of outbound mail is filled in bulk through the store: one message is sent
through the real service, then cloned (new ids) in one transaction with its outbox rows, which
is what thousands of send_email calls would have left, in a second instead of a minute.
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import insert, select

from multimail_server.config import Settings
from multimail_server.core.access import Principal
from multimail_server.services import Context
from multimail_server.services import mailboxes as mailbox_svc
from multimail_server.services import sending as sending_svc
from multimail_server.store import open_store
from multimail_server.store import tables as t

from ..conftest import ServerProcess, fresh_pg_database

METRICS_TOKEN = "scale-metrics-token"


@pytest.fixture
def pg_url():
    with fresh_pg_database("mm_scale") as url:
        yield url


# testing.ServerProcess gives a start 180 s (several start at once on a busy 2-core machine) and
# kills a process that fails to start, so a failed start leaves no process behind.
Process = ServerProcess


class Fleet:
    """The processes of one test; all stopped at the end, their logs checked for tracebacks."""

    def __init__(self, url: str, root: Path):
        self.url, self.root = url, root
        self.procs: list[ServerProcess] = []

    def start(self, role: str, n: int = 1, **env: str) -> list[ServerProcess]:
        def one(_: int) -> ServerProcess:
            data = self.root / f"{role.replace(',', '-')}-{uuid.uuid4().hex[:6]}"
            return Process(data, database_url=self.url,
                           env={"MULTIMAIL_ROLE": role, "MULTIMAIL_METRICS_TOKEN": METRICS_TOKEN, **env})

        with ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(one, i) for i in range(n)]
        started, failed = [], []
        for f in futures:
            try:
                started.append(f.result())
            except Exception as exc:
                failed.append(exc)
        self.procs += started  # stopped at the end even when another failed to start
        if failed:
            raise failed[0]
        return started

    def stop(self) -> None:
        """All at once: each waits for its graceful shutdown (up to 10 s), which need not be in turn."""
        if self.procs:
            with ThreadPoolExecutor(len(self.procs)) as pool:
                list(pool.map(lambda p: p.stop(), self.procs))

    def assert_clean_logs(self) -> None:
        for p in self.procs:
            assert "Traceback" not in p.log(), p.log()[-4000:]


@pytest.fixture
def fleet(pg_url, tmp_path):
    f = Fleet(pg_url, tmp_path)
    yield f
    f.stop()


def delivered_by(proc: ServerProcess) -> int:
    """Messages this worker process delivered (its own counter in GET /metrics)."""
    text = requests.get(f"{proc.base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10).text
    m = re.search(r'^multimail_delivery_attempts_total\{outcome="sent"\} ([0-9.e+]+)$', text, re.M)
    return int(float(m.group(1))) if m else 0


def queue_messages(url: str, n: int) -> list[str]:
    """`n` autonomous messages queued for delivery (capture mode): one through send_email, the
    rest its clones; their ids. The clones' commit NOTIFYs, as a send would."""
    store = open_store(url, migrate=False)
    try:
        ctx = Context(store=store, settings=Settings(database_url=url))
        operator = Principal.local_operator()
        box = f"bulk-{uuid.uuid4().hex[:8]}@acme.test"
        mailbox_svc.create_mailbox(ctx, principal=operator, address=box, oversight_mode="autonomous")
        first = sending_svc.send_email(ctx, principal=operator, sender=box, to="someone@partner.test",
                                       subject="bulk 0", body="one of many")["message_id"]
        with store.read() as tx:
            template = dict(tx.execute(select(t.messages).where(t.messages.c.id == first)).mappings().one())
            queued = dict(tx.execute(select(t.outbox).where(t.outbox.c.message_id == first)).mappings().one())
        # A running worker may have delivered the template already: the clones are as queued.
        template.pop("seq", None)
        template.update(status="queued", sent_at=None, raw=None, failure_reason=None)
        queued.pop("seq", None)
        queued.update(state="ready", attempts=0, locked_until=None, last_error=None, handoff_started_at=None,
                      handoff_result=None)
        ids = [first]
        rows, outbox_rows = [], []
        for i in range(1, n):
            mid = f"msg_bulk{i:06d}{uuid.uuid4().hex[:8]}"
            ids.append(mid)
            rows.append({**template, "id": mid, "subject": f"bulk {i}",
                         "internet_message_id": f"<{mid}@acme.test>"})
            outbox_rows.append({**queued, "message_id": mid})
        with store.write() as tx:
            for start in range(0, len(rows), 2000):
                tx.execute(insert(t.messages), rows[start:start + 2000])
                tx.execute(insert(t.outbox), outbox_rows[start:start + 2000])
        return ids
    finally:
        store.dispose()


def captured_counts(proc: ServerProcess) -> dict[str, int]:
    return dict(proc.query("SELECT message_id, count(*) FROM captured_mail GROUP BY message_id"))
