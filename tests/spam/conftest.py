"""Fixtures of the spam suite: the HTTP suite's servers (SQLite and PostgreSQL) and keys, mail
sent to them over real SMTP on loopback, and a real rspamd (Debian's `rspamd` package) started
from a configuration in a temporary folder on free ports, with a MultiMail server that asks it.

rspamd is skipped when it is not installed, and a failure under CI=true (testing.require_service).
"""

from __future__ import annotations

import secrets
import shutil
import smtplib
import subprocess
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests

from multimail_server.testing import free_port, require_service, start_session_server
from tests.api.conftest import admin, agent, approver, no_server_errors, server  # noqa: F401
from tests.conftest import Api, wait_for

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
HAM_TEXT = ("Hello Ana, thank you for the notes from Tuesday. The quarterly review moves to Thursday "
            "afternoon in the small meeting room; please bring the updated figures for the northern "
            "region and the draft of the supplier contract so that we can go through both together.")


def message(to: str, *, sender: str = "ann@partner.test", subject: str | None = None, body: str = HAM_TEXT,
            reply_to: str | None = None) -> tuple[str, bytes]:
    """(subject, bytes) of a plain message to `to`."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject or f"Notes {secrets.token_hex(4)}"
    msg["Message-ID"] = f"<{secrets.token_hex(8)}@partner.test>"
    msg["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    if reply_to:
        msg["Reply-To"] = reply_to
    msg.set_content(body)
    return msg["Subject"], bytes(msg)


def smtp_send(port: int, rcpt: str, raw: bytes, mail_from: str = "ann@partner.test") -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        s.sendmail(mail_from, [rcpt], raw)


def stored(api: Api, mailbox: str, subject: str) -> dict:
    """The message with this subject, found whether or not it is in quarantine."""
    def found():
        page = api.ok("GET", "check_inbox", mailbox=mailbox, include_spam="true", limit=100)["messages"]
        return next((m for m in page if m["subject"] == subject), None)

    item = wait_for(found, timeout=20, what=f"{subject!r} stored in {mailbox}")
    return api.ok("GET", "read_email", message_id=item["message_id"])


def inbox_subjects(api: Api, mailbox: str) -> list[str]:
    return [m["subject"] for m in api.ok("GET", "check_inbox", mailbox=mailbox, limit=100)["messages"]]


@pytest.fixture
def deliver(server):
    """deliver(to, **message_fields) -> subject: a message over real SMTP to the session server."""

    def _deliver(to: str, mail_from: str = "ann@partner.test", **fields) -> str:
        subject, raw = message(to, **fields)
        smtp_send(server.smtp_port, to, raw, mail_from=mail_from)
        return subject

    return _deliver


class Rspamd:
    """A real rspamd with its own configuration, state and log in `folder`."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port, self.controller_port, proxy_port = free_port(), free_port(), free_port()
        local = folder / "local.d"
        for sub in ("local.d", "db", "run", "log"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        (local / "worker-normal.inc").write_text(f'bind_socket = "127.0.0.1:{self.port}";\n')
        (local / "worker-controller.inc").write_text(f'bind_socket = "127.0.0.1:{self.controller_port}";\n')
        (local / "worker-proxy.inc").write_text(f'bind_socket = "127.0.0.1:{proxy_port}";\n')
        (local / "worker-fuzzy.inc").write_text("count = 0;\n")
        # No network here: DNS look-ups (RBLs, SPF) fail fast instead of waiting.
        (local / "options.inc").write_text("dns { timeout = 0.5s; retransmits = 1; }\n")
        (local / "logging.inc").write_text(f'type = "file"; filename = "{folder}/log/rspamd.log"; level = "warning";\n')
        # The Bayes classifier's statistics live in Redis (as in rspamd's default set-up), a database of their own.
        (local / "redis.conf").write_text('servers = "127.0.0.1:6379"; db = "13";\n')
        user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
        group = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()
        cmd = ["rspamd", "-f", "-u", user, "-g", group, "-c", "/etc/rspamd/rspamd.conf", "--insecure",
               "--var", f"LOCAL_CONFDIR={folder}", "--var", f"DBDIR={folder}/db", "--var", f"RUNDIR={folder}/run",
               "--var", f"LOGDIR={folder}/log"]
        self._out = open(folder / "stdout.log", "w")
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        self.controller_url = f"http://127.0.0.1:{self.controller_port}"
        self._wait()

    def _wait(self, timeout: float = 120.0) -> None:
        # rspamd compiles its rules at start: tens of seconds on a loaded machine.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rspamd exited early:\n{(self.folder / 'stdout.log').read_text()[-3000:]}")
            try:
                ok = requests.get(self.url + "/ping", timeout=1).ok and requests.get(self.controller_url + "/ping", timeout=1).ok
                if ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError("rspamd did not answer in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()


@pytest.fixture(scope="session")
def rspamd(tmp_path_factory) -> Iterator[Rspamd]:
    require_service("rspamd", shutil.which("rspamd") is not None and Path("/etc/rspamd/rspamd.conf").exists(),
                    "apt-get install rspamd (.ci/run installs it)")
    instance = Rspamd(tmp_path_factory.mktemp("rspamd"))
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def rspamd_server(tmp_path_factory, rspamd):
    """A MultiMail server (SQLite) that asks that rspamd for every inbound message."""
    srv = start_session_server(tmp_path_factory.mktemp("spam-rspamd"), env={
        "MULTIMAIL_RSPAMD_URL": rspamd.url, "MULTIMAIL_RSPAMD_CONTROLLER_URL": rspamd.controller_url})
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def rspamd_down_server(tmp_path_factory):
    """A MultiMail server whose rspamd is not there (a port nothing listens on)."""
    srv = start_session_server(tmp_path_factory.mktemp("spam-down"), env={
        "MULTIMAIL_RSPAMD_URL": f"http://127.0.0.1:{free_port()}", "MULTIMAIL_RSPAMD_TIMEOUT_SECONDS": "2"})
    yield srv
    srv.stop()


def admin_of(srv) -> Api:
    return Api(srv.base, srv.admin_key)


def new_mailbox(api: Api, **fields) -> str:
    address = f"box-{secrets.token_hex(4)}@acme.test"
    api.ok("POST", "create_mailbox", {"address": address, **fields})
    return address


def key_for(api: Api, role: str, *boxes: str) -> Api:
    created = api.ok("POST", "create_api_key", {"role": role, "name": f"spam-{role}", "mailboxes": list(boxes)})
    return Api(api.base, created["api_key"])

