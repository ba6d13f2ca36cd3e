"""The server's Prometheus metrics, in a registry per store (so several servers in one process,
as in tests, never share counters), and the readiness checks behind GET /ready.

Counters and histograms are kept in memory as things happen (requests, SMTP transactions,
delivery attempts); what lives in the database (queues, pending approvals, webhook deliveries) is
read by store/metrics.py when scraped, so it is true across every process sharing the database.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..store import Store
from ..store import metrics as metrics_q
from .context import Context
from .wait_hub import hub_for

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _DatabaseGauges(Collector):
    """Gauges computed at scrape time: one read transaction over the store's queues."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.ctx.now()
        with self.ctx.store.read() as tx:
            outbox = metrics_q.outbox_backlog(tx)
            pending = metrics_q.pending_approvals(tx)
            webhooks = metrics_q.webhook_deliveries_by_status(tx)
        yield GaugeMetricFamily("multimail_outbox_depth", "Messages queued for delivery (due or awaiting a retry).",
                                value=outbox.depth)
        yield GaugeMetricFamily("multimail_outbox_oldest_age_seconds", "Age of the oldest queued message (0 when none).",
                                value=outbox.oldest_age_seconds(now))
        yield GaugeMetricFamily("multimail_pending_approvals", "Messages held for a human's approval.", value=pending.depth)
        yield GaugeMetricFamily("multimail_pending_approval_oldest_age_seconds",
                                "Age of the oldest message held for approval (0 when none).",
                                value=pending.oldest_age_seconds(now))
        by_outcome = GaugeMetricFamily("multimail_webhook_deliveries", "Webhook deliveries by outcome.", labels=["outcome"])
        for outcome in ("pending", "succeeded", "failed"):
            by_outcome.add_metric([outcome], webhooks.get(outcome, 0))
        yield by_outcome
        yield GaugeMetricFamily("multimail_long_polls_open", "Long-polls open in this process.",
                                value=hub_for(self.ctx.store).open_long_polls)


class Metrics:
    """One server's metric families; the interfaces record into it, GET /metrics renders it."""

    def __init__(self, ctx: Context):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("multimail_http_requests", "HTTP requests answered, by route template, method and status.",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("multimail_http_request_duration_seconds", "Time to answer an HTTP request, by route.",
                                 ["route"], registry=self.registry)
        self.smtp_sessions = Counter("multimail_smtp_sessions", "SMTP connections, by outcome (accepted, refused).",
                                     ["outcome"], registry=self.registry)
        self.smtp_transactions = Counter("multimail_smtp_transactions",
                                         "SMTP mail transactions (DATA), by outcome (stored, duplicate, refused, error).",
                                         ["outcome"], registry=self.registry)
        self.delivery_attempts = Counter("multimail_delivery_attempts",
                                         "Outbound delivery attempts, by outcome (sent, deferred, failed, cancelled, taken_over).",
                                         ["outcome"], registry=self.registry)
        self.spam_checks = Counter("multimail_spam_checks",
                                   "Inbound spam verdicts, by source (rspamd, baseline) and outcome (ham, flagged, "
                                   "quarantined, rspamd_unavailable: rspamd did not answer and the baseline decided).",
                                   ["source", "outcome"], registry=self.registry)
        self.registry.register(_DatabaseGauges(ctx))

    def render(self) -> bytes:
        return generate_latest(self.registry)


_by_store: weakref.WeakKeyDictionary[Store, Metrics] = weakref.WeakKeyDictionary()


def metrics_for(ctx: Context) -> Metrics:
    """The metrics of this context's store, created on first use (the API, the SMTP server and
    the workers of one server share a store, hence one registry)."""
    metrics = _by_store.get(ctx.store)
    if metrics is None:
        metrics = _by_store.setdefault(ctx.store, Metrics(ctx))
    return metrics


def readiness(ctx: Context, worker_liveness: Callable[[], dict[str, bool]] | None) -> dict[str, Any]:
    """Each check behind GET /ready, by name: {"ok": bool, ...what was seen}. The database first:
    when it does not answer, the schema cannot be read either."""
    checks: dict[str, Any] = {}
    try:
        ctx.store.ping()
        checks["database"] = {"ok": True}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    if checks["database"]["ok"]:
        try:
            current, head = metrics_q.schema_revisions(ctx.store)
            checks["migrations"] = {"ok": current == head, "current": current, "head": head}
        except Exception as exc:
            checks["migrations"] = {"ok": False, "error": type(exc).__name__}
    else:
        checks["migrations"] = {"ok": False, "error": "database unavailable"}
    if worker_liveness is not None:  # None: an app without workers of its own (embedded, tests)
        alive = worker_liveness()
        checks["workers"] = {"ok": all(alive.values()), "alive": alive}
    return checks
