"""What GET /metrics and GET /ready read from the database, at scrape time: the queues' depth and
the age of their oldest item, webhook deliveries by outcome, and whether the schema is current.

One module, so every operating query is in one place (and SQL stays in store/); each scrape is a
handful of indexed aggregates, cheap enough for a scraper every few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, select

from .engine import Store
from .migrate import alembic_config, current_revision
from .tables import messages, outbox, webhook_deliveries


@dataclass(frozen=True)
class Backlog:
    """A queue's depth and when its oldest item entered it (None when empty)."""

    depth: int
    oldest: datetime | None

    def oldest_age_seconds(self, now: datetime) -> float:
        return max(0.0, (now - self.oldest).total_seconds()) if self.oldest else 0.0


def _backlog(tx: Connection, created_at, *where) -> Backlog:
    depth, oldest = tx.execute(select(func.count(), func.min(created_at)).where(*where)).one()
    return Backlog(depth=depth, oldest=oldest)


def outbox_backlog(tx: Connection) -> Backlog:
    """Messages waiting for the delivery worker (due now or deferred to a retry)."""
    return _backlog(tx, outbox.c.created_at, outbox.c.state == "ready")


def pending_approvals(tx: Connection) -> Backlog:
    """Messages held for a human's decision."""
    return _backlog(tx, messages.c.created_at, messages.c.approval_status == "pending")


def webhook_deliveries_by_status(tx: Connection) -> dict[str, int]:
    """Webhook deliveries by outcome: pending (still trying), succeeded, failed."""
    q = select(webhook_deliveries.c.status, func.count()).group_by(webhook_deliveries.c.status)
    return {status: count for status, count in tx.execute(q).all()}


def schema_revisions(store: Store) -> tuple[str | None, str | None]:
    """(the database's Alembic revision, the newest this code knows): equal when migrations are current."""
    head = ScriptDirectory.from_config(alembic_config(store)).get_current_head()
    return current_revision(store), head
