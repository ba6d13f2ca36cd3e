"""Group commit for inbound SMTP: the messages that arrive together share one write transaction.

Why: each received message was its own write transaction, and a write transaction is the one
thing a SQLite store does one at a time (and, on PostgreSQL, a commit is a WAL flush): with eight
clients sending at once, seven queued behind the commit of the eighth. Here one thread takes
every prepared message waiting (parsed off the event loop already, services/receiving.py
`prepare_inbound`), stores them all in one transaction and commits once.

Each message still gets its 250 only after the commit that holds it: its future resolves after
the `with store.write()` block has committed, never before. A message that fails to store (its
client gets a 451) leaves nothing behind and does not fail the others: the batch's transaction
rolls back whole and the batch is stored again with each message inside its own SAVEPOINT, so
that one rolls back alone and the others commit. A failed commit fails every message of the
batch (451 each: the clients retry, nothing was accepted).
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from typing import Any

from ..services.context import Context
from ..services.receiving import batch_transaction, store_prepared

log = logging.getLogger("multimail_server.smtp")

MAX_BATCH = 64  # messages per transaction; a batch of large messages is bounded by the clients anyway


class GroupCommitter:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._queue: queue.SimpleQueue[tuple[dict[str, Any], Future] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0  # transactions committed (tests, benchmarks)

    def submit(self, prepared: dict[str, Any]) -> Future:
        """Queue one prepared message; the future resolves to its new ids once committed."""
        future: Future = Future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="multimail-smtp-commit", daemon=True)
                self._thread.start()
        self._queue.put((prepared, future))
        return future

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(10)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stopping = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self.commit(batch)
            if stopping:
                return

    def commit(self, batch: list[tuple[dict[str, Any], Future]]) -> None:
        """Store one batch and resolve its futures (the thread's loop calls this for each batch)."""
        try:
            try:
                results = self._transaction(batch, isolated=False)
            except _MessageFailed as failed:  # rolled back whole: nothing of that attempt is stored
                if len(batch) == 1:
                    results = [failed.__cause__ or failed]
                else:
                    results = self._transaction(batch, isolated=True)
        except Exception as exc:  # the commit (or the transaction) failed: nothing was stored
            for _, future in batch:
                future.set_exception(exc)
            return
        self.batches += 1
        for (_, future), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _transaction(self, batch: list[tuple[dict[str, Any], Future]], *, isolated: bool) -> list[Any]:
        """Store the batch in one transaction and commit it; each message's ids (or, `isolated`,
        the exception of a message that failed in its savepoint).

        Not isolated, a message that fails raises `_MessageFailed` and the whole transaction
        rolls back; the batch is then stored again isolated. Savepoints cost two statements per
        message (of about a dozen), and a message fails to store only on a bug or a database
        error, so the common case does without them."""
        results: list[Any] = []
        mailboxes: dict[str, Any] = {}  # recipient -> mailbox, looked up once per transaction
        with batch_transaction(self.ctx) as tx:
            for prepared, _ in batch:
                if not isolated:
                    try:
                        results.append(store_prepared(tx, self.ctx, prepared, mailboxes=mailboxes))
                    except Exception as exc:
                        raise _MessageFailed from exc
                    continue
                savepoint = tx.begin_nested()
                try:
                    ids = store_prepared(tx, self.ctx, prepared, mailboxes=mailboxes)
                except Exception as exc:  # this message alone: its client gets a 451
                    savepoint.rollback()
                    results.append(exc)
                else:
                    savepoint.commit()
                    results.append(ids)
        return results


class _MessageFailed(Exception):
    """A message failed to store in a batch's shared transaction (its cause says why)."""
