"""Long-poll: answer a request as soon as its answer changes, or when its `wait` runs out.

One `ChangeNotifier` per store (so per server process) counts committed changes:
- the store's after-commit hook bumps it at once for changes this process makes (API calls,
  SMTP deliveries, the delivery worker);
- one fallback thread per process, running only while someone waits, reads a single cheap change
  marker (the audit chain's event count, store/claims.py) every `FALLBACK_POLL_SECONDS` and bumps
  the notifier when it moved, so changes committed by OTHER server processes on the same
  PostgreSQL wake waiters here too, within about a second.

Waiting is async (`wait_until`): a waiter holds no thread while it waits, only an asyncio future;
each re-check of its condition runs its database read in the threadpool, like any sync route.
So a thousand parked long-polls cost a thousand futures, not a thousand of the threadpool's 40
threads, and the database sees one marker query per second per process plus one re-check per
waiter per change, never a per-waiter poll loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, Callable

from anyio import to_thread

from ..core.access import Principal
from ..core.errors import BadRequest
from ..store import Store
from ..store import claims as claim_q
from .common import find_message
from .context import Context
from .views import pending_item

MAX_WAIT_SECONDS = 60.0
FALLBACK_POLL_SECONDS = 1.0

log = logging.getLogger("multimail.waiting")


class ChangeNotifier:
    """A generation counter that async waiters (on any event loop) can wait to see move."""

    def __init__(self, store: Store, *, poll_seconds: float = FALLBACK_POLL_SECONDS):
        self.store = store
        self.poll_seconds = poll_seconds
        self.generation = 0
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = set()
        self._poller: threading.Thread | None = None
        self._marker: Any = None

    # -- waking -------------------------------------------------------------------------------
    def bump(self) -> None:
        """Something committed: wake every waiter. Called from any thread."""
        with self._lock:
            self.generation += 1
            waiters, self._waiters = self._waiters, set()
        for loop, fut in waiters:
            try:
                loop.call_soon_threadsafe(_resolve, fut)
            except RuntimeError:  # the loop closed meanwhile
                pass

    # -- waiting ------------------------------------------------------------------------------
    async def wait_for_change(self, seen: int, timeout: float) -> bool:
        """Wait until the generation is past `seen` (True) or `timeout` seconds pass (False)."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        entry = (loop, fut)
        with self._lock:
            if self.generation != seen:
                return True
            self._waiters.add(entry)
            self._ensure_poller()
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiters.discard(entry)

    # -- the cross-process fallback -----------------------------------------------------------
    def _ensure_poller(self) -> None:
        """Under self._lock: start the fallback thread if it is not running."""
        if self._poller is None or not self._poller.is_alive():
            self._poller = threading.Thread(target=self._poll, name="multimail-longpoll", daemon=True)
            self._poller.start()

    def _poll(self) -> None:
        idle_rounds = 0
        while True:
            try:
                with self.store.read() as tx:
                    marker = claim_q.change_marker(tx)
            except Exception:  # the database is away for a moment: try again next round
                log.warning("long-poll change marker unavailable", exc_info=True)
                marker = self._marker
            if marker != self._marker:
                # Also on the first read: a change between a waiter's first check and this
                # baseline would otherwise go unseen, so waiters re-check once now.
                self._marker = marker
                self.bump()
            time.sleep(self.poll_seconds)
            with self._lock:
                idle_rounds = 0 if self._waiters else idle_rounds + 1
                if idle_rounds >= 30:  # nobody waited for a while: stop; the next waiter restarts it
                    self._poller = None
                    self._marker = None
                    return


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


_notifiers: dict[int, ChangeNotifier] = {}
_registry_lock = threading.Lock()


def notifier_for(store: Store) -> ChangeNotifier:
    """The process-wide notifier of this store (created, and hooked to its commits, on first use)."""
    with _registry_lock:
        notifier = _notifiers.get(id(store))
        if notifier is None or notifier.store is not store:
            notifier = ChangeNotifier(store)
            store.on_commit(notifier.bump)
            _notifiers[id(store)] = notifier
        return notifier


def check_wait(wait: Any) -> float:
    if wait is None:
        return 0.0
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= MAX_WAIT_SECONDS:
        raise BadRequest(f"wait must be a number of seconds between 0 and {MAX_WAIT_SECONDS:g}.", code="invalid_field",
                         details={"field": "wait"})
    return float(wait)


async def wait_until(store: Store, fetch: Callable[[], Any], done: Callable[[Any], bool], wait: float) -> Any:
    """`fetch()` (a sync database read, run in the threadpool) until `done(result)` or `wait`
    seconds have passed; the last result either way. Re-checks only when something committed."""
    wait = check_wait(wait)
    notifier = notifier_for(store) if wait > 0 else None
    deadline = time.monotonic() + wait
    while True:
        seen = notifier.generation if notifier else 0  # before the read: a commit during it re-checks
        result = await to_thread.run_sync(fetch)
        if done(result) or notifier is None:  # done() also validates, so it runs even without a wait
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return result
        await notifier.wait_for_change(seen, remaining)


# -- the long-polled answers (used by the list_pending and get_thread routes) ----------------------

def pending_of_message(ctx: Context, *, principal: Principal, message_id: str) -> dict[str, Any]:
    """list_pending narrowed to one message: its approval item whatever its age (a decision older
    than the 24 h window is still reported), or no item when the message was never held."""
    with ctx.store.read() as tx:
        msg, mailbox = find_message(tx, principal, message_id)
    return {"messages": [pending_item(msg, mailbox)] if msg["approval_status"] is not None else []}


def pending_settled(answer: dict[str, Any]) -> bool:
    return any(m["status"] != "pending" for m in answer["messages"])


def pending_signature(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["message_id"], m["status"]) for m in answer["messages"]]


def thread_position(thread: dict[str, Any], after_message_id: str | None) -> int:
    """How many of the thread's messages the caller has seen (up to and including after_message_id)."""
    ids = [m["message_id"] for m in thread["messages"]]
    if after_message_id is None:
        return len(ids)
    if after_message_id not in ids:
        raise BadRequest("after_message_id is not a message of this thread.", code="not_in_thread",
                         details={"field": "after_message_id", "message_id": after_message_id})
    return ids.index(after_message_id) + 1
