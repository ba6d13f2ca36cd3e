"""Cross-process wake-ups on PostgreSQL: `NOTIFY` with every write, one `LISTEN` per process.

Why: several `multimail serve` processes share one PostgreSQL (`--role api|smtp|worker`). A commit
in one must wake the delivery and webhook workers and the parked long-polls of all the others
within milliseconds, not at their next poll. Within one process the store's after-commit hooks
already do this; this module carries the same signal between processes.

- `announce(conn, token)`: `pg_notify('multimail_changed', token)` inside the write transaction
  itself, so PostgreSQL delivers it only if, and once, the transaction commits (a rolled-back
  write wakes nobody). Identical notifications of one transaction are folded into one by
  PostgreSQL; notifications of different transactions are each delivered.
- `Listener`: one dedicated connection per process (psycopg 3, autocommit, outside the pool) in a
  daemon thread, `LISTEN multimail_changed`; each notification from ANOTHER process (the payload
  is the sender's token; our own commits already ran the hooks) runs the store's after-commit
  hooks, exactly as a local commit would. A lost connection is re-opened with backoff (0.1 s
  doubling to 5 s), and after every (re)connect the hooks run once, since a commit made while
  nobody listened would otherwise go unseen until the next fallback poll.

Nothing depends on a notification arriving: workers and the long-poll hub keep a fallback poll, so
a lost notification delays work by at most that interval and never loses it. SQLite has no
NOTIFY; its processes wake each other by those polls alone.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

from . import wakes

CHANNEL = "multimail_changed"
RECONNECT_FIRST_SECONDS = 0.1
RECONNECT_MAX_SECONDS = 5.0
_NOTIFY = text("SELECT pg_notify(:channel, :token)")

log = logging.getLogger("multimail.notify")


def new_token() -> str:
    """This process's (this store's) name in the notifications it sends."""
    return uuid.uuid4().hex


def announce(conn: Connection, token: str, topics: frozenset[str] = frozenset()) -> None:
    """Queue the cross-process wake-up in the current transaction (sent on commit only), naming
    the wake topics it marked (store/wakes.py) so that the other processes wake only the
    workers it has work for."""
    conn.execute(_NOTIFY, {"channel": CHANNEL, "token": wakes.encode(token, topics)})


def libpq_dsn(url: URL) -> str:
    """The SQLAlchemy URL as a plain libpq connection string for psycopg (no `+psycopg`)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """The one LISTEN connection of a process; `on_notify` runs for others' commits."""

    def __init__(self, dsn: str, token: str, on_notify: Callable[[frozenset[str] | None], None], *, channel: str = CHANNEL):
        self.dsn = dsn
        self.token = token
        self.on_notify = on_notify
        self.channel = channel
        self.connected = False
        self.received = 0  # notifications from other processes (tests, /ready)
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="multimail-listen", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        import psycopg

        delay = RECONNECT_FIRST_SECONDS
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5,
                                     application_name="multimail-listen") as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    self.connected = True
                    delay = RECONNECT_FIRST_SECONDS
                    self._fire(None)  # whatever committed while nobody listened: every hook
                    while not self._stop.is_set():
                        # Returns after `timeout` with nothing pending, so the stop flag is seen.
                        for note in conn.notifies(timeout=0.5):
                            sender, topics = wakes.decode(note.payload)
                            if sender != self.token:
                                self.received += 1
                                self._fire(topics)
                            if self._stop.is_set():
                                break
            except Exception as exc:
                if self._stop.is_set():
                    break
                log.warning("LISTEN connection lost (%s); reconnecting in %.1f s, the fallback poll covers the gap",
                            type(exc).__name__, delay)
            finally:
                self.connected = False
            if self._stop.wait(delay):
                break
            self.reconnects += 1
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    def _fire(self, topics: frozenset[str] | None) -> None:
        try:
            self.on_notify(topics)
        except Exception:  # a hook's failure must not end the listening
            log.exception("after-commit hook failed on a notification")


def wait_connected(listener: Listener, timeout: float) -> bool:
    """Wait up to `timeout` seconds for the first LISTEN (start-up: so the first commits of the
    other processes are not left to the fallback poll)."""
    deadline = time.monotonic() + timeout
    while not listener.connected and time.monotonic() < deadline:
        time.sleep(0.01)
    return listener.connected


__all__ = ["CHANNEL", "Listener", "announce", "libpq_dsn", "new_token", "wait_connected"]
