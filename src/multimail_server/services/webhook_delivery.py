"""The webhook worker: delivers each stored delivery to its endpoint, signed, with retries.

Deliveries are rows written with their event, so nothing is lost across a crash: a claimed row's
lease outlives the request timeout, and a worker that dies mid-attempt leaves the row to be taken
again. Retries follow the configured schedule with jitter, wait at least what a receiver's
`Retry-After` asks, and stop after about a day; then the delivery fails and, after enough failed
deliveries in a row, the endpoint is disabled with a `webhook.disabled` event.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from ..core.webhook_rules import ROTATION_GRACE, next_delay, redact_url, retryable_status
from ..store import mailboxes as mailbox_q
from ..store import wakes
from ..store import webhook_deliveries as delivery_q
from ..store import webhooks as webhook_q
from ..webhooks.sender import AttemptResult, post_event
from ..webhooks.ssrf import Resolver, system_resolver
from . import prefect_targets
from .common import record
from .context import Context
from .workers import PollingWorker, run_concurrently

# Claimed deliveries to different endpoints posted side by side: each post is mostly a wait.
CONCURRENCY = 4


def retryable(result: AttemptResult) -> bool:
    return retryable_status(result.status_code, refused=result.refused)


class WebhookWorker(PollingWorker):
    name = "webhooks"
    wake_topics = frozenset({wakes.WEBHOOKS})

    def __init__(self, ctx: Context, *, resolver: Resolver = system_resolver, rng: random.Random | None = None):
        super().__init__(ctx)
        self.resolver = resolver
        self.rng = rng or random.Random()

    @property
    def poll_seconds(self) -> float:
        return self.ctx.settings.webhook_poll_seconds

    @property
    def stop_timeout(self) -> float:
        return self.ctx.settings.webhook_timeout_seconds + 5

    def run_once(self, limit: int = 10) -> int:
        settings = self.ctx.settings
        with self.ctx.store.read() as tx:  # most wake-ups are other work's commits: no write lock for those
            if not delivery_q.any_due(tx, self.ctx.now()):
                return 0
        with self.ctx.store.write(notify=False) as tx:
            rows = delivery_q.claim_due(tx, self.ctx.now(), lease_seconds=settings.webhook_timeout_seconds + 10, limit=limit)
        # Endpoints side by side, each endpoint's deliveries in order, one at a time: "N failed
        # in a row, then disabled" (and a success resetting that count) is about one endpoint's
        # sequence, and a disabled endpoint must not be posted to by a delivery already in flight.
        by_endpoint: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_endpoint.setdefault(row["webhook_id"], []).append(row)
        run_concurrently(list(by_endpoint.values()), self._attempt_in_order, CONCURRENCY, name="multimail-webhooks")
        return len(rows)

    def _attempt_in_order(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self._attempt(row)

    def _attempt(self, row: dict[str, Any]) -> None:
        ctx = self.ctx
        with ctx.store.read() as tx:
            hook = webhook_q.by_id(tx, row["webhook_id"])
        if hook is None or not hook["enabled"]:
            with ctx.store.write() as tx:
                why = "the endpoint was deleted" if hook is None else "the endpoint is disabled"
                delivery_q.settle(tx, row["seq"], status="failed", now=ctx.now(), status_code=None, error=why)
            return
        kind = hook["kind"]
        flow_run = None
        if kind == "http":
            secrets = [hook["secret"]]
            if hook["previous_secret"] and hook["secret_rotated_at"] and ctx.now() - hook["secret_rotated_at"] < ROTATION_GRACE:
                secrets.append(hook["previous_secret"])
            result = post_event(
                url=hook["url"], secrets=secrets, msg_id=row["event_id"], body=row["payload"],
                allow_private=ctx.settings.webhooks_may_reach_private(), timeout=ctx.settings.webhook_timeout_seconds,
                resolver=self.resolver, now=ctx.now(),
            )
        else:
            result, flow_run = prefect_targets.deliver(ctx.prefect_api(), kind, hook.get("target") or {}, row)
        now = ctx.now()
        with ctx.store.write() as tx:
            delivery_q.record_attempt(tx, delivery_id=row["id"], at=now, status_code=result.status_code, error=result.error,
                                      response_body=result.body, duration_ms=result.duration_ms)
            if result.ok:
                delivery_q.settle(tx, row["seq"], status="succeeded", now=now, status_code=result.status_code, error=None)
                delivery_q.note_success(tx, hook["id"])
                if flow_run is not None:
                    prefect_targets.note_flow_run(tx, ctx, hook=hook, delivery=row, flow_run=flow_run, now=now)
                return
            delay = next_delay(ctx.settings.webhook_retry_schedule, row["attempts"], result.retry_after, self.rng) if retryable(result) else None
            if delay is not None:
                delivery_q.settle(tx, row["seq"], status="pending", now=now, status_code=result.status_code,
                                  error=result.error, next_attempt_at=now + timedelta(seconds=delay))
                return
            delivery_q.settle(tx, row["seq"], status="failed", now=now, status_code=result.status_code, error=result.error)
            failures = delivery_q.note_failure(tx, hook["id"])
            if failures >= ctx.settings.webhook_disable_after_failures:
                reason = f"{failures} deliveries in a row failed; the last: {result.error}"
                if delivery_q.disable(tx, hook["id"], now=now, reason=reason):
                    box = mailbox_q.by_id(tx, hook["mailbox_id"]) if hook["mailbox_id"] else None
                    record(tx, at=now, principal=None, action="webhook.disabled", mailbox=box,
                           details={"webhook_id": hook["id"], "url": redact_url(hook["url"]), "reason": reason},
                           event="webhook.disabled", event_data={"webhook_id": hook["id"], "url": redact_url(hook["url"]), "reason": reason})
