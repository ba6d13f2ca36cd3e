"""The examples in examples/prefect run as the README says: as scripts, against a real
MultiMail server that resumes runs through a real Prefect server, with an agent key."""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import Api, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prefect"


@pytest.fixture(scope="module")
def env(prefect_server, prefect_api_url):
    admin = Api(prefect_server.base, prefect_server.admin_key)
    boxes = ["notify@acme.test", "reports@acme.test", "support@acme.test"]
    for address, mode in zip(boxes, ["monitored", "gated_send", "gated_send"]):
        r = admin.post("create_mailbox", {"address": address, "oversight_mode": mode})
        assert r.status_code in (200, 409), r.text
    agent = admin.ok("POST", "create_api_key", {"role": "agent", "mailboxes": boxes, "name": "examples"})["api_key"]
    return {**os.environ, "PREFECT_API_URL": prefect_api_url, "MULTIMAIL_BASE_URL": prefect_server.base,
            "MULTIMAIL_API_KEY": agent, "PREFECT_LOGGING_LEVEL": "INFO"}


def _run(name: str, env: dict, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(EXAMPLES / name)], env=env, cwd=EXAMPLES, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def test_notify_stakeholder_sends_at_once(env):
    proc = _run("notify_stakeholder.py", env)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "Completed" in out


def test_gated_notification_goes_on_once_a_human_approves(env, prefect_server):
    admin = Api(prefect_server.base, prefect_server.admin_key)
    before = {m["message_id"] for m in admin.ok("GET", "list_pending", mailbox="reports@acme.test")["messages"]}
    proc = _run("gated_notification.py", env)
    try:
        def held():
            items = admin.ok("GET", "list_pending", mailbox="reports@acme.test")["messages"]
            return next((m["message_id"] for m in items if m["message_id"] not in before and m["status"] == "pending"), None)

        msg = wait_for(held, timeout=60)
        time.sleep(1.0)  # let the run pause
        admin.ok("POST", "approve_message", {"message_id": msg})
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "approved" in out and "Completed" in out


def test_process_inbox_claims_and_acknowledges_what_came_in(env, prefect_server):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Ana <ana@partner.test>", "support@acme.test", "Invoice 7 is wrong"
    msg.set_content("Please fix the invoice.")
    with smtplib.SMTP("127.0.0.1", prefect_server.smtp_port, timeout=20) as s:
        s.send_message(msg)
    proc = _run("process_inbox.py", env)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "Invoice 7 is wrong" in out or "billing" in out.lower(), out
