"""`multimail serve`'s log lines as an operator's log shipper reads them: with --log-format json
(or MULTIMAIL_LOG_FORMAT=json) every log line is one JSON object, and each request, SMTP
transaction and delivery attempt is one line carrying its ids."""

from __future__ import annotations

import json
import subprocess
import sys
from email.message import EmailMessage

import requests

from tests.conftest import Api, ServerProcess, free_port, unique_address, wait_for
from tests.mail.test_smtp_inbound import smtp_send


def log_records(srv: ServerProcess) -> list[dict]:
    """Every log line of the server, parsed; the lines `serve` prints for the operator (the
    admin key, the addresses it listens on) are not log records and stay plain text."""
    records = []
    for line in srv.log().splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))  # a line that does not parse fails the test here
        else:
            assert line.startswith(("No API keys", "  mm_live_", "SMTP on", "API on", "Roles: ")), f"not a JSON log line: {line!r}"
    return records


def test_json_logs_one_object_per_request_transaction_and_attempt(tmp_path):
    srv = ServerProcess(tmp_path, env={"MULTIMAIL_LOG_FORMAT": "json"})
    try:
        admin = Api(srv.base, srv.admin_key)
        box, sender = unique_address(), unique_address()
        admin.ok("POST", "create_mailbox", {"address": box})
        admin.ok("POST", "create_mailbox", {"address": sender, "oversight_mode": "autonomous"})
        r = requests.get(f"{srv.base}/v1/list_mailboxes", headers=admin.headers({"X-Request-Id": "trace-7"}), timeout=10)
        assert r.status_code == 200 and r.headers["X-Request-Id"] == "trace-7"
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "ana@partner.test", box, "Logged"
        msg.set_content("Hello.")
        smtp_send(srv, msg)
        sent = admin.ok("POST", "send_email", {"from": sender, "to": box, "subject": "Local", "body": "."})

        def attempt_logged():
            return [r for r in log_records(srv) if r.get("message_id") == sent["message_id"]]

        [attempt] = wait_for(attempt_logged, timeout=15, what="the delivery attempt's log line")
        records = log_records(srv)
    finally:
        srv.stop()
    assert {"time", "level", "logger", "message"} <= set(attempt)
    assert attempt["attempt"] == 1 and attempt["outcome"] == "sent" and attempt["logger"] == "multimail_server.delivery"
    [request] = [r for r in records if r.get("request_id") == "trace-7"]
    assert request["method"] == "GET" and request["path"] == "/v1/list_mailboxes" and request["status"] == 200
    assert request["key_id"].startswith("key_") and isinstance(request["ms"], float)
    [smtp] = [r for r in records if r.get("logger") == "multimail_server.smtp" and "outcome" in r]
    assert smtp["peer"] == "127.0.0.1" and smtp["mail_from"] == "ana@partner.test" and smtp["recipients"] == 1
    assert smtp["outcome"] == "stored" and len(smtp["message_ids"]) == 1 and smtp["message_ids"][0].startswith("msg_")
    # every request is a line, each with its own generated id
    ids = [r["request_id"] for r in records if r.get("logger") == "multimail.http"]
    assert len(ids) >= 4 and len(set(ids)) == len(ids)


def test_an_unknown_log_format_is_refused(tmp_path):
    done = subprocess.run([sys.executable, "-m", "multimail_server.cli", "serve", "--data-dir", str(tmp_path),
                           "--http-port", str(free_port()), "--log-format", "yaml"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--log-format" in done.stderr and "yaml" in done.stderr, done
    assert not (tmp_path / "multimail.db").exists()
