"""The loop every background worker shares: wake on a commit, poll otherwise.

A worker drains what is due (`run_once` until it finds nothing), then sleeps until a transaction
commits that made work for it (the store's after-commit hook for the worker's wake topics,
store/wakes.py: this process's commits, and on PostgreSQL other processes' too, relayed by the
store's LISTEN connection, store/notify.py) or the poll interval
passes, which covers retries falling due and any wake-up lost between processes. An exception in a pass is logged and the loop goes on:
the rows' leases let them be taken again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from .context import Context


def run_concurrently(items: Sequence[Any], fn: Callable[[Any], None], concurrency: int, *, name: str) -> None:
    """`fn(item)` for every item, on up to `concurrency` threads; returns when all are done.

    Why: a worker's items wait mostly on the network (the relay's answers, a webhook receiver),
    and one after another the worker sat idle through each round trip while the database and
    the CPU had room. Each item is independent (its own lease, its own compare-and-set
    transactions), so running them side by side is what several workers would do, and exactly
    once holds the same way. Daemon threads, per batch: a hung endpoint never holds up the
    process's exit (the row's lease lets another worker take it). An exception `fn` lets out
    (it is meant to catch its own) is raised here once every item has finished."""
    if concurrency <= 1 or len(items) <= 1:
        for item in items:
            fn(item)
        return
    pending = list(reversed(items))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def drain() -> None:
        while True:
            with lock:
                if not pending:
                    return
                item = pending.pop()
            try:
                fn(item)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                with lock:
                    errors.append(exc)

    threads = [threading.Thread(target=drain, name=f"{name}-{i}", daemon=True) for i in range(min(concurrency, len(items)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


class PollingWorker:
    name = "worker"
    # The commits that wake this worker (store/wakes.py): None for every commit, a set of topics
    # for those that marked one of them, an empty set for none (a worker on a clock alone).
    wake_topics: frozenset[str] | None = None

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.log = logging.getLogger(f"multimail.{self.name}")

    # --- what a worker implements --------------------------------------------------------------
    def run_once(self) -> int:
        """Work on what is due now; the number of items handled (0: nothing was due)."""
        raise NotImplementedError

    def idle(self) -> None:
        """Housekeeping after a pass that found nothing more to do."""

    @property
    def poll_seconds(self) -> float:
        return 1.0

    def wait_seconds(self) -> float:
        """How long to sleep when nothing is due (a commit wakes the worker sooner)."""
        return self.poll_seconds

    def sleep_until(self, next_due: Callable[[Connection], datetime | None]) -> float:
        """For `wait_seconds`: until the time `next_due(tx)` reads (the next row falling due), at
        most the poll interval, so work due at 09:00 is done at 09:00 whatever the interval.
        Due already yet not taken (a paused mailbox, quiet hours, a row another worker holds):
        the poll interval, not a spin; the same when the read fails."""
        try:
            with self.ctx.store.read() as tx:
                due = next_due(tx)
        except Exception:
            return self.poll_seconds
        left = (due - self.ctx.now()).total_seconds() if due is not None else 0.0
        return min(self.poll_seconds, left) if left > 0 else self.poll_seconds

    @property
    def stop_timeout(self) -> float:
        return 10.0

    # --- the loop ------------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self.wake_topics is None or self.wake_topics:
            self.ctx.store.on_commit(self.wake, topics=self.wake_topics)
        self._thread = threading.Thread(target=self._run, name=f"multimail-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self.request_stop()
        if self._thread:
            self._thread.join(timeout=self.stop_timeout if timeout is None else timeout)

    def request_stop(self) -> None:
        """Finish the current item and stop; what the worker holds is safe either way (a row
        left mid-work keeps its lease, which expires, and is taken again)."""
        self._stop.set()
        self._wake.set()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before the pass: a wake during it makes the next wait return at once
            try:
                while self.run_once() and not self._stop.is_set():
                    pass
                self.idle()
            except Exception:
                self.log.exception("%s pass failed", self.name)
            self._wake.wait(self.wait_seconds())
