"""How long the resume worker sleeps between passes: until the next retry falls due, at most the
poll interval; at once after its reconcile marked a wait due; the poll interval, not a spin,
while a due wait is held by another server."""

from __future__ import annotations

import uuid
from datetime import timedelta

from multimail_server.config import Settings
from multimail_server.core.access import Principal
from multimail_server.services import Context, approvals, mailboxes, sending
from multimail_server.services.flow_run_waits import FlowRunResumeWorker
from multimail_server.store import flow_run_waits as wait_q
from multimail_server.store import open_store
from tests.conftest import Clock


def test_the_resume_worker_sleeps_until_the_next_retry_and_never_spins_on_a_held_one(db_url, tmp_path):
    clock = Clock()
    ctx = Context(store=open_store(db_url), clock=clock,
                  settings=Settings(data_dir=tmp_path, prefect_api_url="http://127.0.0.1:9/api", prefect_poll_seconds=5))
    try:
        me = Principal.local_operator()
        mailboxes.create_mailbox(ctx, principal=me, address="gated@acme.test", oversight_mode="gated_send")
        sent = sending.send_email(ctx, principal=me, sender="gated@acme.test", to="bob@x.test", subject="s", body="b")
        approvals.approve_message(ctx, principal=me, message_id=sent["message_id"])
        with ctx.store.write() as tx:  # a wait the approval's event missed: reconcile's to find
            wait_q.insert_wait(tx, flow_run_id=str(uuid.uuid4()), kind="approval", target_id=sent["message_id"],
                               mailbox_id="mbx_x", created_by=None, now=ctx.now(), outcome=None)
        worker = FlowRunResumeWorker(ctx, ctx.prefect_api())

        worker.idle()  # reconciles: too young to be marked yet
        assert worker.wait_seconds() == 5.0  # nothing due: the poll interval

        clock.now += timedelta(seconds=3)
        worker._last_reconcile = -1e9  # its next reconcile is due
        worker.idle()
        assert worker.wait_seconds() == 0.0  # it marked the wait due without a wake: look again now

        with ctx.store.write(notify=False) as tx:  # another server takes it and is still resuming it
            [held] = wait_q.claim_due(tx, ctx.now(), lease_seconds=60, limit=10)
        clock.now += timedelta(seconds=1)
        worker.idle()
        assert worker.wait_seconds() == 5.0  # due, but not ours to take: not a read every 20 ms

        with ctx.store.write(notify=False) as tx:  # that server's resume failed; retry in 250 ms
            wait_q.settle(tx, held["seq"], status="due", now=ctx.now(), error="not paused yet",
                          next_attempt_at=ctx.now() + timedelta(milliseconds=250))
        worker.idle()
        assert worker.wait_seconds() == 0.25
    finally:
        ctx.store.dispose()
