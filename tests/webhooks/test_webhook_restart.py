"""A server killed while an event waits for its retry delivers it after a restart."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

from standardwebhooks import Webhook

from tests.conftest import Api, ServerProcess, free_port
from tests.webhooks.conftest import Receiver


def _delivery_rows(data_dir):
    with sqlite3.connect(data_dir / "multimail.db") as db:
        return db.execute("select status, attempts, locked_until from webhook_deliveries").fetchall()


def test_server_killed_mid_retry_delivers_after_restart(tmp_path):
    port = free_port()  # nothing listens here yet: every attempt is a connection error
    url = f"http://127.0.0.1:{port}/hook"
    env = {"MULTIMAIL_WEBHOOK_RETRY_SCHEDULE": "[1, 1, 1, 1, 1, 1]"}
    srv = ServerProcess(tmp_path / "data", env=env, smtp=False)
    api = Api(srv.base, srv.admin_key)
    api.ok("POST", "create_mailbox", {"address": "agent@acme.test"})
    hook = api.ok("POST", "create_webhook", {"url": url, "events": ["message.pending"]})
    api.ok("POST", "send_email", {"from": "agent@acme.test", "to": "ana@partner.test", "subject": "s", "body": "b"})
    deadline = time.monotonic() + 15
    # Wait until an attempt failed and the delivery waits for its retry (not mid-request).
    while not any(a >= 1 and lock is None for _, a, lock in _delivery_rows(srv.data_dir)):
        assert time.monotonic() < deadline, "no attempt was made"
        time.sleep(0.1)
    os.kill(srv.proc.pid, signal.SIGKILL)  # no clean shutdown
    srv.proc.wait(10)
    srv.stop()
    assert _delivery_rows(srv.data_dir)[0][0] == "pending"

    receiver = Receiver(port)  # the receiver comes back while the server is down
    restarted = ServerProcess(tmp_path / "data", env=env, smtp=False)
    try:
        deadline = time.monotonic() + 20
        while not receiver.requests:
            assert time.monotonic() < deadline, "the event was not delivered after the restart"
            time.sleep(0.1)
        req = receiver.requests[0]
        assert Webhook(hook["secret"]).verify(req["body"], req["headers"])["type"] == "message.pending"
        time.sleep(0.5)
        assert len(receiver.requests) == 1
        [(status, attempts, _)] = _delivery_rows(restarted.data_dir)
        assert status == "succeeded" and attempts >= 2
    finally:
        restarted.stop()
        receiver.stop()
