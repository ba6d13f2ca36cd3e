"""The long-poll mechanism: park a request until its target changes, or its `wait` runs out.

Why it is built this way: a write must not get slower because many clients wait. Re-running
every waiter's full read after every commit made 150 parked long-polls slow each unrelated write
10-20x (the re-reads queued in the threadpool the write needed). So waiters never re-read on a
commit. Instead:

- Every waiter names a `Target` (one message's approval, one thread, one pending list) and the
  target's cheap *version* (store/waits.py) as it was before its last full read.
- One `WaitHub` per store (so per server process) keeps the parked waiters. A commit of this
  process (the store's after-commit hook) only sets a flag; the hub's one checker thread then
  reads the versions of ALL waited-on targets in one transaction — one query per kind of target,
  shared by every waiter of the same target — and wakes only the waiters whose target's version
  moved. Commits arriving during a check coalesce into one more check, so a burst of writes costs
  a few checks, not (writes x waiters) reads.
- Changes committed by OTHER server processes on the same PostgreSQL arrive the same way: each
  write NOTIFYs on commit, and the process's one LISTEN connection runs the store's after-commit
  hooks for it (store/notify.py), so a waiter in API process A wakes within milliseconds of a
  commit in process B. As a fallback (a lost notification, a LISTEN connection being re-opened,
  SQLite, which has no NOTIFY), while anyone waits the checker also reads a single cheap change
  marker (the audit chain's event count) every `long_poll_fallback_seconds` (default
  `FALLBACK_POLL_SECONDS`) and checks when it moved: a lost wake-up is late, never lost.

Waiting is async: a parked waiter holds only an asyncio future, no thread. Open long-polls are
capped per key and per process (`long_poll_max_per_key`, `long_poll_max_total`): past a cap the
request is refused with 429 `too_many_waits` and a Retry-After of when the earliest of the
crowding waits ends. What each long-poll waits for is services/waiting.py.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from anyio import to_thread

from ..core.access import Principal
from ..core.errors import BadRequest
from ..core.limits import too_many_waits
from ..store import Store
from ..store import claims as claim_q
from ..store import waits as version_q
from .context import Context

MAX_WAIT_SECONDS = 60.0
FALLBACK_POLL_SECONDS = 1.0
IDLE_ROUNDS_BEFORE_STOP = 30  # checker rounds with nobody waiting before its thread ends

log = logging.getLogger("multimail.waiting")

# The version a waiter is woken with when the check itself failed: it re-reads its baseline.
UNKNOWN = object()


# -- what a waiter waits on -------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """What a long-poll watches. Waiters with equal targets share one version check."""

    kind: str  # "message" | "thread" | "pending"
    id: Any  # message id, thread id, or a PendingScope


@dataclass(frozen=True)
class PendingScope:
    """The scope of a pending list: one mailbox, a key's mailbox addresses, or all (both None)."""

    mailbox_id: str | None = None
    addresses: frozenset[str] | None = None
    flow_run_id: str | None = None


def read_versions(tx, targets: set[Target]) -> dict[Target, Any]:
    """The current version of each target: one query per kind (per scope for pending lists)."""
    by_kind: dict[str, list[Any]] = {}
    for target in targets:
        by_kind.setdefault(target.kind, []).append(target.id)
    out: dict[Target, Any] = {}
    if "message" in by_kind:
        found = version_q.message_versions(tx, by_kind["message"])
        out.update({Target("message", i): found.get(i) for i in by_kind["message"]})
    if "thread" in by_kind:
        found = version_q.thread_versions(tx, by_kind["thread"])
        out.update({Target("thread", i): found.get(i) for i in by_kind["thread"]})
    for scope in by_kind.get("pending", ()):
        out[Target("pending", scope)] = version_q.pending_version(
            tx, mailbox_id=scope.mailbox_id, addresses=scope.addresses, flow_run_id=scope.flow_run_id)
    return out


# -- parked waiters and the shared check ----------------------------------------------------------

@dataclass(eq=False)
class _Parked:
    target: Target
    version: Any
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future


@dataclass
class _Admission:
    """Open long-polls: their deadlines per key, so a refusal can say when a slot frees up."""

    per_key: dict[str, list[float]] = field(default_factory=dict)
    total: int = 0


class WaitHub:
    """The parked long-polls of one store, and the one thread that checks their targets."""

    def __init__(self, store: Store, *, poll_seconds: float = FALLBACK_POLL_SECONDS):
        self.store = store
        self.poll_seconds = poll_seconds
        self.generation = 0  # commits seen (this process's, or another's via the marker)
        self.checks = 0  # version checks run (for tests and benchmarks)
        self._lock = threading.Lock()
        self._parked: dict[Target, set[_Parked]] = {}
        self._dirty = threading.Event()
        self._checker: threading.Thread | None = None
        self._marker: Any = None
        self._open = _Admission()
        self.closing = False  # set by `close`: the server is shutting down
        self._fetches: dict[tuple[Any, ...], asyncio.Task] = {}  # re-reads shared by woken waiters (`fetch_shared`)
        self.shared_fetches = 0  # re-reads a waiter took from another's instead of running its own (tests)

    @property
    def open_long_polls(self) -> int:
        """Long-polls admitted and not yet answered (GET /metrics reads it; admissions stay ours)."""
        return self._open.total

    # -- shutdown -----------------------------------------------------------------------------
    def close(self) -> int:
        """The server is stopping: answer every parked long-poll now, with its current answer
        (a normal "not yet", so its client polls again, elsewhere or after the restart), and
        park no more. Returns how many were answered. Safe from a signal handler's thread."""
        with self._lock:
            self.closing = True
            parked = [p for group in self._parked.values() for p in group]
        for p in parked:
            try:
                p.loop.call_soon_threadsafe(_resolve, p.future, None)
            except RuntimeError:  # the loop closed meanwhile
                pass
        return len(parked)

    # -- commits ------------------------------------------------------------------------------
    def committed(self) -> None:
        """The store's after-commit hook: note the change; the checker thread does the rest.
        Costs the committing thread a counter increment and an Event.set, nothing more."""
        with self._lock:
            self.generation += 1
            if not self._parked:
                return
        self._dirty.set()

    # -- admission ----------------------------------------------------------------------------
    def admit(self, key: str, deadline: float, *, per_key: int, total: int) -> None:
        """Count one open long-poll of `key` (until `release`), or raise 429 `too_many_waits`."""
        now = time.monotonic()
        with self._lock:
            mine = self._open.per_key.setdefault(key, [])
            if len(mine) >= per_key:
                raise too_many_waits("for this API key", per_key, min(mine, default=now) - now)
            if self._open.total >= total:
                earliest = min((d for ds in self._open.per_key.values() for d in ds), default=now)
                raise too_many_waits("on this server", total, earliest - now)
            mine.append(deadline)
            self._open.total += 1

    def release(self, key: str, deadline: float) -> None:
        with self._lock:
            mine = self._open.per_key.get(key, [])
            if deadline in mine:
                mine.remove(deadline)
                self._open.total -= 1
            if not mine:
                self._open.per_key.pop(key, None)

    # -- waiting ------------------------------------------------------------------------------
    async def fetch_shared(self, share: tuple[Any, ...] | None, fetch: Callable[[], Any]) -> Any:
        """`fetch()` on the thread pool, run once for all the waiters that ask with the same
        `share` while it runs (each gets its own copy of the answer).

        Why: one commit can wake many waiters of the same target (a thousand long-polls and
        dashboard streams on one held message, when it is approved), and each re-read its
        answer: a thousand identical reads queued on the thread pool, the last answered half a
        minute later. `share` names everything the answer depends on (the caller's key, the
        read and its arguments, the target and the check that woke them), so a waiter never
        gets an answer it would not have read itself. None: not shared."""
        try:
            hash(share)
        except TypeError:  # a version that cannot be a key: not shared
            share = None
        if share is None:
            return await to_thread.run_sync(fetch)
        loop = asyncio.get_running_loop()
        key = (id(loop), *share)
        task = self._fetches.get(key)
        if task is None or task.get_loop() is not loop:  # (an id() reused after a loop closed)
            task = asyncio.ensure_future(to_thread.run_sync(fetch))
            self._fetches[key] = task
            task.add_done_callback(lambda t: self._fetch_done(key, t))
        else:
            self.shared_fetches += 1
        # shielded: a waiter that goes away (its client disconnected) does not cancel the read
        # the others wait for
        return copy.deepcopy(await asyncio.shield(task))

    def _fetch_done(self, key: tuple[Any, ...], task: asyncio.Task) -> None:
        if self._fetches.get(key) is task:
            del self._fetches[key]
        if not task.cancelled():
            task.exception()  # retrieved: when every waiter left before it failed, nothing else would

    def version_of(self, target: Target) -> Any:
        with self.store.read() as tx:
            return read_versions(tx, {target})[target]

    async def park(self, target: Target, version: Any, seen: int, timeout: float) -> tuple[Any, int] | None:
        """Wait until `target`'s version differs from `version`: (the new version, the generation
        read before it), or None when `timeout` passes or the server is shutting down. `seen` is the generation read before
        `version` was: a commit since then may have been checked before this waiter was parked,
        so it asks for one more check."""
        loop = asyncio.get_running_loop()
        parked = _Parked(target, version, loop, loop.create_future())
        with self._lock:
            if self.closing:
                return None
            self._parked.setdefault(target, set()).add(parked)
            missed = self.generation != seen
            self._ensure_checker()
        if missed:
            self._dirty.set()
        try:
            return await asyncio.wait_for(parked.future, timeout)
        except TimeoutError:
            return None
        finally:
            self._unpark(parked)

    def _unpark(self, parked: _Parked) -> None:
        with self._lock:
            same = self._parked.get(parked.target)
            if same is not None:
                same.discard(parked)
                if not same:
                    del self._parked[parked.target]

    # -- the checker thread -------------------------------------------------------------------
    def _ensure_checker(self) -> None:
        """Under self._lock: start the checker thread if it is not running."""
        if self._checker is None or not self._checker.is_alive():
            self._checker = threading.Thread(target=self._run, name="multimail-longpoll", daemon=True)
            self._checker.start()

    def _run(self) -> None:
        idle_rounds = 0
        while True:
            woken = self._dirty.wait(self.poll_seconds)
            self._dirty.clear()
            if woken or self._marker_moved():
                self._check()
            with self._lock:
                idle_rounds = 0 if self._parked else idle_rounds + 1
                if idle_rounds >= IDLE_ROUNDS_BEFORE_STOP:  # the next waiter restarts it
                    self._checker = None
                    self._marker = None
                    return

    def _marker_moved(self) -> bool:
        """Another process may have committed: has the cross-process change marker moved?
        Also True on the first read, since a change before this baseline would go unseen."""
        try:
            with self.store.read() as tx:
                marker = claim_q.change_marker(tx)
        except Exception:  # the database is away for a moment: try again next round
            log.warning("long-poll change marker unavailable", exc_info=True)
            return False
        moved, self._marker = marker != self._marker, marker
        if moved:
            with self._lock:
                self.generation += 1
        return moved

    def _check(self) -> None:
        """One read of every waited-on target's version; wake the waiters whose target moved."""
        with self._lock:
            targets = set(self._parked)
        if not targets:
            return
        generation = self.generation  # before the read: a later commit gets its own check
        try:
            with self.store.read() as tx:
                versions = read_versions(tx, targets)
        except Exception:
            log.warning("long-poll version check failed; waking every waiter to re-read", exc_info=True)
            versions = None
        self.checks += 1
        with self._lock:
            due = [p for t in targets for p in self._parked.get(t, ())
                   if versions is None or versions[t] != p.version]
        for parked in due:
            new = versions[parked.target] if versions is not None else UNKNOWN
            try:
                parked.loop.call_soon_threadsafe(_resolve, parked.future, (new, generation))
            except RuntimeError:  # the loop closed meanwhile
                pass


def _resolve(fut: asyncio.Future, value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


_hubs: dict[int, WaitHub] = {}
_registry_lock = threading.Lock()


def close_all() -> int:
    """Answer every parked long-poll of this process at once (server shutdown)."""
    with _registry_lock:
        hubs = list(_hubs.values())
    return sum(hub.close() for hub in hubs)


def hub_for(store: Store, *, poll_seconds: float | None = None) -> WaitHub:
    """The process-wide hub of this store (created, and hooked to its commits, on first use);
    `poll_seconds`, when given, sets its fallback poll interval."""
    with _registry_lock:
        hub = _hubs.get(id(store))
        if hub is None or hub.store is not store:
            hub = WaitHub(store)
            store.on_commit(hub.committed)
            _hubs[id(store)] = hub
        if poll_seconds is not None:
            hub.poll_seconds = poll_seconds
        return hub


def check_wait(wait: Any) -> float:
    if wait is None:
        return 0.0
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= MAX_WAIT_SECONDS:
        raise BadRequest(f"wait must be a number of seconds between 0 and {MAX_WAIT_SECONDS:g}.", code="invalid_field",
                         details={"field": "wait"})
    return float(wait)


async def wait_until(ctx: Context, principal: Principal, target: Target, fetch: Callable[[], Any],
                     done: Callable[[Any], bool], wait: float, *, share: tuple[Any, ...] | None = None) -> Any:
    """`fetch()` (a sync database read, run in the threadpool) until `done(result)` or `wait`
    seconds have passed; the last result either way. Re-reads only when the target's version
    moved; counts against the long-poll caps only while parked. `share` names the read and its
    arguments when waiters of the same key woken by the same check may share one re-read
    (`WaitHub.fetch_shared`): what else the answer depends on (the key, the target and the
    version the waiters were woken for) is added here. Only re-reads after a wake are shared:
    each waiter's first read follows its own version read, and another process's commit may
    fall between two waiters' version reads."""
    wait = check_wait(wait)
    hub = hub_for(ctx.store, poll_seconds=ctx.settings.long_poll_fallback_seconds) if wait > 0 else None
    deadline = time.monotonic() + wait
    seen, version = 0, None
    if hub is not None:
        seen = hub.generation  # before the version read: a commit after it triggers a check
        version = await to_thread.run_sync(hub.version_of, target)
    result = await to_thread.run_sync(fetch)
    if done(result) or hub is None:  # done() also validates, so it runs even without a wait
        return result
    key = principal.key_id or "-"
    settings = ctx.settings
    hub.admit(key, deadline, per_key=settings.long_poll_max_per_key, total=settings.long_poll_max_total)
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return result
            moved = await hub.park(target, version, seen, remaining)
            if moved is None:  # the wait ran out, or the server is shutting down
                return result
            version, seen = moved
            if version is UNKNOWN:
                seen = hub.generation
                version = await to_thread.run_sync(hub.version_of, target)
            shared = None if share is None or principal.key_id is None else (principal.key_id, target, version, *share)
            result = await hub.fetch_shared(shared, fetch)
            if done(result):
                return result
    finally:
        hub.release(key, deadline)
