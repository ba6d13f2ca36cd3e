"""The resume worker's safety net: a wait whose settling event missed it (an outcome committed
between a registration's read and its insert, in another process) is found and marked due."""

from __future__ import annotations

import uuid

from multimail_server.config import Settings
from multimail_server.core.access import Principal
from multimail_server.services import Context, approvals, mailboxes, sending
from multimail_server.services.flow_run_waits import reconcile
from multimail_server.store import flow_run_waits as wait_q


def test_a_wait_the_settling_event_missed_is_marked_due(tmp_path):
    ctx = Context.from_settings(Settings(data_dir=tmp_path, prefect_api_url="http://127.0.0.1:9/api"))
    me = Principal.local_operator()
    mailboxes.create_mailbox(ctx, principal=me, address="gated@acme.test", oversight_mode="gated_send")
    sent = sending.send_email(ctx, principal=me, sender="gated@acme.test", to="bob@x.test", subject="s", body="b")
    approvals.approve_message(ctx, principal=me, message_id=sent["message_id"])
    with ctx.store.write() as tx:  # the wait as a registration racing the approval leaves it
        row = wait_q.insert_wait(tx, flow_run_id=str(uuid.uuid4()), kind="approval", target_id=sent["message_id"],
                                 mailbox_id="mbx_x", created_by=None, now=ctx.now(), outcome=None)
    assert row["status"] == "waiting"
    assert reconcile(ctx, older_than=0) == 1
    with ctx.store.read() as tx:
        after = wait_q.by_id(tx, row["id"])
    assert after["status"] == "due" and after["outcome"]["status"] == "approved"
    assert reconcile(ctx, older_than=0) == 0
    ctx.store.dispose()
