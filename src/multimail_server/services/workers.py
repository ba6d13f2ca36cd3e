"""The loop every background worker shares: wake on a commit, poll otherwise.

A worker drains what is due (`run_once` until it finds nothing), then sleeps until a transaction
commits (the store's after-commit hook: this process's commits, and on PostgreSQL other
processes' too, relayed by the store's LISTEN connection, store/notify.py) or the poll interval
passes, which covers retries falling due and any wake-up lost between processes. An exception in a pass is logged and the loop goes on:
the rows' leases let them be taken again.
"""

from __future__ import annotations

import logging
import threading

from .context import Context


class PollingWorker:
    name = "worker"

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

    @property
    def stop_timeout(self) -> float:
        return 10.0

    # --- the loop ------------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self.ctx.store.on_commit(self.wake)
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
