"""The purge job as it runs in `multimail serve` (its worker role, polling every 0.3 s here), on
SQLite and PostgreSQL: mail received over SMTP, made older than its mailbox's retention window in
the database (the one thing a test cannot wait for), then purged by the server itself; every
interface says so (read_email, get_raw and the attachment download 410, the hosted read), the
export keeps a stand-in, and `multimail audit verify` still finds the chain intact."""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
from email.message import EmailMessage

import pytest
import requests
import sqlalchemy as sa

from multimail_server.testing import Api, start_session_server
from tests.api.helpers import all_audit, find_in_inbox
from tests.conftest import PG_ENV, fresh_pg_database, require_service, unique_address, wait_for


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request, tmp_path):
    env = {"MULTIMAIL_RETENTION_POLL_SECONDS": "0.3"}
    if request.param == "sqlite":
        srv = start_session_server(tmp_path, env=env)
        yield srv
        srv.stop()
        return
    require_service("PostgreSQL", bool(os.environ.get(PG_ENV)), f"set {PG_ENV}")
    with fresh_pg_database("mm_purge") as url:
        srv = start_session_server(tmp_path, database_url=url, env=env)
        yield srv
        srv.stop()


def _backdate(srv, message_id: str, days: int) -> None:
    url = srv.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as db:
            db.execute(sa.text(f"UPDATE messages SET created_at = created_at - INTERVAL '{days} days' WHERE id = :m")
                       if engine.dialect.name == "postgresql" else
                       sa.text(f"UPDATE messages SET created_at = datetime(created_at, '-{days} days') WHERE id = :m"),
                       {"m": message_id})
    finally:
        engine.dispose()


def test_the_served_purge_job_purges_past_the_window_and_the_chain_verifies(served):
    admin = Api(served.base, served.admin_key)
    box = unique_address()
    admin.ok("POST", "create_mailbox", {"address": box, "oversight_mode": "autonomous", "retain_bodies_days": 7,
                                        "retain_attachments_days": 7})
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "ann@partner.test", box, "Old plans"
    msg["Message-ID"] = "<old-plans@partner.test>"
    msg.set_content("The secret plan, in full.")
    msg.add_attachment(b"col1,col2\n1,2\n", maintype="text", subtype="csv", filename="plan.csv")
    with smtplib.SMTP("127.0.0.1", served.smtp_port, timeout=30) as s:
        s.send_message(msg)
    fresh_msg = EmailMessage()
    fresh_msg["From"], fresh_msg["To"], fresh_msg["Subject"] = "ann@partner.test", box, "New plans"
    fresh_msg.set_content("Still here.")
    with smtplib.SMTP("127.0.0.1", served.smtp_port, timeout=30) as s:
        s.send_message(fresh_msg)  # a second, recent message: inside the window, untouched
    old = find_in_inbox(admin, box, "Old plans", include_spam="true")
    new = find_in_inbox(admin, box, "New plans", include_spam="true")
    assert "secret plan" in admin.ok("GET", "read_email", message_id=old["message_id"])["body"]

    _backdate(served, old["message_id"], 8)
    view = wait_for(lambda: (v := admin.ok("GET", "read_email", message_id=old["message_id"]))["body"].startswith("[Content purged")
                    and v, timeout=20, what="the served purge job to purge the old message")
    assert "secret" not in view["body"] and view["subject"] == "Old plans"
    r = admin.get("get_raw", message_id=old["message_id"])
    assert r.status_code == 410 and r.json()["error"]["code"] == "content_purged"
    hosted = requests.get(f"{served.base}/v1/mailboxes/{box}/emails/{old['message_id']}/attachments/plan.csv",
                          headers=admin.headers(), timeout=30)
    assert hosted.status_code == 410 and set(hosted.json()["error"]) == {"code", "message", "details"}
    assert "Still here." in admin.ok("GET", "read_email", message_id=new["message_id"])["body"]
    assert admin.get("get_raw", message_id=new["message_id"]).status_code == 200

    actions = [e["action"] for e in all_audit(admin, mailbox=box)]
    assert "message.bodies_purged" in actions and "message.attachments_purged" in actions
    export = requests.get(f"{served.base}/v1/export_mailbox", params={"mailbox": box, "format": "mbox"},
                          headers=admin.headers(), timeout=60)
    assert export.status_code == 200 and b"Still here." in export.content and b"secret plan" not in export.content
    verified = subprocess.run([sys.executable, "-m", "multimail_server.cli", "audit", "verify", "--data-dir", str(served.data_dir),
                               *(["--database-url", served.database_url] if served.database_url.startswith("postgresql") else [])],
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0 and "audit trail intact" in verified.stdout, verified.stdout + verified.stderr
