"""The webhook worker: delivers each stored delivery to its endpoint, signed, with retries.

Deliveries are rows written with their event, so nothing is lost across a crash: a claimed row's
lease outlives the request timeout, and a worker that dies mid-attempt leaves the row to be taken
again. Retries follow the configured schedule with jitter, wait at least what a receiver's
`Retry-After` asks, and stop after about a day; then the delivery fails and, after enough failed
deliveries in a row, the endpoint is disabled with a `webhook.disabled` event.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from ..core.webhook_rules import ROTATION_GRACE, next_delay, redact_url, retryable_status
from ..store import mailboxes as mailbox_q
from ..store import wakes
from ..store import webhook_deliveries as delivery_q
from ..store import webhooks as webhook_q
from ..webhooks.sender import AttemptResult, ClientPool, post_event
from ..webhooks.ssrf import Resolver, system_resolver
from . import prefect_targets
from .common import record
from .context import Context
from .workers import PollingWorker, run_concurrently

# Claimed deliveries to different endpoints posted side by side: each post is mostly a wait.
CONCURRENCY = 4
# Deliveries claimed per pass; one endpoint's share is posted in order and recorded together.
BATCH = 50
# How long one endpoint's run may go on before its webhook row is read again (someone may
# have disabled or deleted the endpoint meanwhile).
RECHECK_SECONDS = 1.0


def retryable(result: AttemptResult) -> bool:
    return retryable_status(result.status_code, refused=result.refused)


class WebhookWorker(PollingWorker):
    name = "webhooks"
    wake_topics = frozenset({wakes.WEBHOOKS})

    def __init__(self, ctx: Context, *, resolver: Resolver = system_resolver, rng: random.Random | None = None):
        super().__init__(ctx)
        self.resolver = resolver
        self.rng = rng or random.Random()
        # Connections kept alive per receiver: a client (and a connection) per post cost more
        # than the post itself to a nearby receiver.
        self.pool = ClientPool(timeout=ctx.settings.webhook_timeout_seconds)
        self.clock = time.monotonic  # for the leases' ends (tests move it)

    @property
    def poll_seconds(self) -> float:
        return self.ctx.settings.webhook_poll_seconds

    @property
    def stop_timeout(self) -> float:
        return self.ctx.settings.webhook_timeout_seconds + 5

    def stop(self, timeout: float | None = None) -> None:
        super().stop(timeout)
        self.pool.close()

    def run_once(self, limit: int = BATCH) -> int:
        settings = self.ctx.settings
        with self.ctx.store.read() as tx:  # most wake-ups are other work's commits: no write lock for those
            if not delivery_q.any_due(tx, self.ctx.now()):
                return 0
        claimed_at = self.clock()
        with self.ctx.store.write(notify=False) as tx:
            rows = delivery_q.claim_due(tx, self.ctx.now(), lease_seconds=settings.webhook_timeout_seconds + 10, limit=limit)
        lease_ends = claimed_at + settings.webhook_timeout_seconds + 10
        # Endpoints side by side, each endpoint's deliveries in order, one at a time: "N failed
        # in a row, then disabled" (and a success resetting that count) is about one endpoint's
        # sequence, and a disabled endpoint must not be posted to by a delivery already in flight.
        by_endpoint: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_endpoint.setdefault(row["webhook_id"], []).append(row)
        run_concurrently(list(by_endpoint.values()), lambda share: self._endpoint_run(share, lease_ends),
                         CONCURRENCY, name="multimail-webhooks")
        return len(rows)

    def _endpoint_run(self, rows: list[dict[str, Any]], lease_ends: float) -> None:
        """One endpoint's deliveries, in order. The results are recorded together, in one
        transaction, when the run ends or an attempt fails (a failure may disable the endpoint,
        which the next delivery must see), instead of one transaction per post: a post that
        succeeded and was not yet recorded when the process died is posted again (webhooks are
        at-least-once; the receiver de-duplicates on webhook-id, the same on every attempt).
        Rows whose lease would run out before their post could finish are released untried,
        so no other worker takes over a row this one is still posting."""
        ctx = self.ctx
        timeout = ctx.settings.webhook_timeout_seconds
        done: list[tuple[dict[str, Any], dict[str, Any], AttemptResult, dict | None, Any]] = []
        hook, read_at = self._hook(rows[0]["webhook_id"]), self.clock()
        for i, row in enumerate(rows):
            if self.clock() - read_at > RECHECK_SECONDS:
                hook, read_at = self._hook(row["webhook_id"]), self.clock()
            if hook is None or not hook["enabled"]:
                self._record(done, rest=rows[i:], hook=hook)
                return
            if self.clock() + timeout + 2 > lease_ends:
                self._record(done, release=rows[i:])
                return
            result, flow_run = self._post(hook, row)
            done.append((row, hook, result, flow_run, ctx.now()))
            if not result.ok:
                self._record(done)
                done = []
                hook, read_at = self._hook(row["webhook_id"]), self.clock()
        self._record(done)

    def _hook(self, webhook_id: str) -> dict[str, Any] | None:
        with self.ctx.store.read() as tx:
            return webhook_q.by_id(tx, webhook_id)

    def _post(self, hook: dict[str, Any], row: dict[str, Any]) -> tuple[AttemptResult, dict | None]:
        ctx = self.ctx
        if hook["kind"] != "http":
            return prefect_targets.deliver(ctx.prefect_api(), hook["kind"], hook.get("target") or {}, row)
        secrets = [hook["secret"]]
        if hook["previous_secret"] and hook["secret_rotated_at"] and ctx.now() - hook["secret_rotated_at"] < ROTATION_GRACE:
            secrets.append(hook["previous_secret"])
        return post_event(
            url=hook["url"], secrets=secrets, msg_id=row["event_id"], body=row["payload"],
            allow_private=ctx.settings.webhooks_may_reach_private(), timeout=ctx.settings.webhook_timeout_seconds,
            resolver=self.resolver, now=ctx.now(), pool=self.pool,
        ), None

    def _record(self, done: list, *, rest: Sequence[dict[str, Any]] = (), hook: dict[str, Any] | None = None,
                release: Sequence[dict[str, Any]] = ()) -> None:
        """The attempts in `done` (in order: successes, then at most one failure), the rows of a
        deleted or disabled endpoint (`rest`), the rows left untried (`release`), in one
        transaction. If it fails, nothing was recorded: the leases expire and the deliveries are
        attempted again."""
        if not (done or rest or release):
            return
        ctx = self.ctx
        with ctx.store.write() as tx:
            if done:
                delivery_q.record_attempts(tx, [
                    {"delivery_id": row["id"], "attempted_at": at, "status_code": result.status_code, "error": result.error,
                     "response_body": result.body, "duration_ms": result.duration_ms} for row, _, result, _, at in done])
            ok = [(row, h, result, flow_run, at) for row, h, result, flow_run, at in done if result.ok]
            if ok:
                delivery_q.succeeded(tx, [(row["seq"], result.status_code) for row, _, result, _, _ in ok], now=ok[-1][4])
                delivery_q.note_success(tx, ok[0][1]["id"])
                for row, h, _, flow_run, at in ok:
                    if flow_run is not None:
                        prefect_targets.note_flow_run(tx, ctx, hook=h, delivery=row, flow_run=flow_run, now=at)
            for row, h, result, _, at in done:
                if not result.ok:
                    self._failed(tx, row, h, result, at)
            for row in rest:
                why = "the endpoint was deleted" if hook is None else "the endpoint is disabled"
                delivery_q.settle(tx, row["seq"], status="failed", now=ctx.now(), status_code=None, error=why)
            for row in release:
                delivery_q.release(tx, row["seq"], attempts=row["attempts"], now=ctx.now())

    def _failed(self, tx, row: dict[str, Any], hook: dict[str, Any], result: AttemptResult, now) -> None:
        ctx = self.ctx
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
