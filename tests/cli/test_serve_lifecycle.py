"""`multimail serve` starting and stopping as an operator sees it: a taken port is one line and
creates nothing; SIGTERM with a long-poll open answers it at once and exits within 5 s."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import requests

from tests.conftest import Api, ServerProcess, free_port, unique_address


def serve(data_dir, http_port: int, smtp_port: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "multimail_server.cli", "serve", "--data-dir", str(data_dir),
                           "--http-port", str(http_port), "--smtp-port", str(smtp_port)],
                          capture_output=True, text=True, timeout=60)


def test_a_port_in_use_is_one_line_and_creates_nothing(tmp_path):
    for taken in ("http", "smtp"):
        data = tmp_path / taken
        http_port, smtp_port = free_port(), free_port()
        with socket.socket() as blocker:
            blocker.bind(("127.0.0.1", http_port if taken == "http" else smtp_port))
            blocker.listen()
            done = serve(data, http_port, smtp_port)
        assert done.returncode == 1, done
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "already in use" in lines[0], done.stderr
        assert ("--http-port" if taken == "http" else "--smtp-port") in lines[0]
        assert "API on" not in done.stdout and "admin key" not in done.stdout, done.stdout
        db = data / "multimail.db"
        if db.exists():  # nothing was created in it: no key, no schema beyond what a start leaves
            with sqlite3.connect(db) as conn:
                tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
                assert "api_keys" not in tables or conn.execute("select count(*) from api_keys").fetchone()[0] == 0


def test_sigterm_answers_open_long_polls_and_exits_within_five_seconds(tmp_path):
    srv = ServerProcess(tmp_path / "srv")
    api = Api(srv.base, srv.admin_key)
    box = unique_address("stop")
    api.ok("POST", "create_mailbox", {"address": box, "oversight_mode": "gated_all"})
    held = api.ok("POST", "send_email", {"from": box, "to": "ana@partner.test", "subject": "s", "body": "b"})
    answers: list = []

    def long_poll() -> None:
        answers.append(requests.get(f"{srv.base}/v1/list_pending", params={"message_id": held["message_id"], "wait": 50},
                                    headers=api.headers(), timeout=60))

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(1.0)  # parked
    started = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    srv.proc.wait(timeout=15)
    took = time.monotonic() - started
    poller.join(timeout=15)
    assert took < 5, took
    assert answers and answers[0].status_code == 200
    assert answers[0].json()["messages"][0]["status"] == "pending"  # a normal "not yet"
    assert "1 open long-polls answered" in srv.log()
    srv.stop()


def test_cli_verbs_refuse_a_place_that_holds_no_store_and_create_nothing(tmp_path):
    empty = tmp_path / "typo"
    done = subprocess.run([sys.executable, "-m", "multimail_server.cli", "keys", "create", "--role", "agent", "--data-dir", str(empty)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "no MultiMail store at" in done.stderr and str(empty.resolve()) in done.stderr.replace("\n", "")
    assert "mm_live_" not in done.stdout
    assert not empty.exists()


def test_a_key_for_a_mailbox_that_does_not_exist_is_refused(tmp_path):
    srv = ServerProcess(tmp_path / "srv", smtp=False)
    try:
        api = Api(srv.base, srv.admin_key)
        r = api.post("create_api_key", {"role": "agent", "mailboxes": ["nobody@nowhere.test"]})
        assert r.status_code == 404 and r.json()["error"]["code"] == "mailbox_not_found"
        assert r.json()["error"]["details"]["missing"] == ["nobody@nowhere.test"]
        done = subprocess.run([sys.executable, "-m", "multimail_server.cli", "keys", "create", "--role", "agent",
                               "--mailbox", "nobody@nowhere.test", "--data-dir", str(srv.data_dir)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and "mailbox_not_found" in done.stderr and "mm_live_" not in done.stdout
        # A key that may not use a mailbox gets the same 404, worded so it is not mistaken for a typo.
        box = unique_address("mine")
        api.ok("POST", "create_mailbox", {"address": box})
        other = api.ok("POST", "create_mailbox", {"address": unique_address("other")})["address"]
        agent = Api(srv.base, api.ok("POST", "create_api_key", {"role": "agent", "mailboxes": [box]})["api_key"])
        err = agent.get("check_inbox", mailbox=other).json()["error"]
        assert err["code"] == "mailbox_not_found" and "that this key may use" in err["message"]
    finally:
        srv.stop()


def test_version_and_help_show_flags_as_flags():
    version = subprocess.run([sys.executable, "-m", "multimail_server.cli", "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("multimail ")
    shown = subprocess.run([sys.executable, "-m", "multimail_server.cli", "keys", "list", "--help"], capture_output=True, text=True,
                           timeout=60).stdout
    assert "--json " in shown and "<bool>" not in shown
