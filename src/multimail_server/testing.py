"""Real MultiMail servers for tests: the helpers the server's own suite and the prefect-multimail
suite share (one copy, importable by both; the integration is tested on its own, so it cannot
import the server's ``tests`` package).

- :class:`ServerProcess`: a ``multimail serve`` subprocess on free loopback ports.
- :class:`Api`: ``requests`` against it with one key, as a hosted-API client would use it.
- :func:`wait_for`, :func:`free_port`, :data:`SESSION_DNS`, :func:`start_session_server`.
- The fixtures ``prefect_api_url`` (one temporary Prefect server, shared by every conftest that
  uses it in a session) and ``prefect_server`` (a MultiMail server that resumes flow runs
  through it): import them into a ``conftest.py``.

Needs the ``test`` extra (``requests``, ``pytest``); the server is started from the environment's
Python, so it runs the ``multimail`` that is importable there.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The suite drives its servers hard from one IP (bursts, 50 concurrent sends, fuzzing) with a few
# keys, far beyond what a small team's defaults allow; test servers get roomy rate limits (still
# enforced), and tests of the limits themselves pass their own in `env`.
TEST_RATE_LIMITS = {
    "MULTIMAIL_RATE_LIMIT_PER_KEY": "1000000/minute",
    "MULTIMAIL_RATE_LIMIT_PER_IP": "1000000/minute",
    "MULTIMAIL_RATE_LIMIT_AUTH_FAILURES": "1000000/minute",
    "MULTIMAIL_RATE_LIMIT_VERIFY": "1000000/minute",
    "MULTIMAIL_RATE_LIMIT_LINKS": "1000000/minute",
    "MULTIMAIL_RATE_LIMIT_SMTP_CONCURRENT": "1000",
    "MULTIMAIL_RATE_LIMIT_SMTP_CONNECTIONS": "1000000/minute",
    "MULTIMAIL_RATE_LIMIT_SMTP_AUTH_FAILURES": "1000000/minute",
    "MULTIMAIL_RATE_LIMIT_SMTP_MESSAGES_PER_IP": "1000000/minute",
    "MULTIMAIL_RATE_LIMIT_SMTP_MESSAGES_PER_SENDER": "1000000/minute",
    # an answer that drifted from its declared shape (client/types.py) fails the test that met it
    "MULTIMAIL_STRICT_RESPONSES": "true",
}


# How long a server may take to answer /health before its start counts as hung. A server that
# fails exits, and that is seen at once; this deadline only ends a start that neither answers nor
# exits, so it is generous: on a loaded 2-core CI machine a healthy start has taken over 40 s.
START_TIMEOUT = float(os.environ.get("MULTIMAIL_TEST_START_TIMEOUT", "180"))
# Starts retried on fresh ports when another process took a port between free_port() and the bind.
PORT_RETRIES = 3


class ServerProcess:
    """A real `multimail serve` subprocess; its stdout is kept in a log file for debugging.

    A start that fails never leaves the process behind: it is killed before the error is raised
    (the caller has no object to stop)."""

    def __init__(self, data_dir: Path, *, database_url: str | None = None, env: dict[str, str] | None = None, smtp: bool = True):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url or f"sqlite:///{self.data_dir.resolve() / 'multimail.db'}"
        self._explicit_database_url, self._smtp = database_url, smtp
        self._env = {**os.environ, **TEST_RATE_LIMITS, **(env or {})}
        self.admin_key: str | None = None
        for attempt in range(PORT_RETRIES):
            self._choose_ports()
            try:
                self._start("w")
                return
            except _PortTaken:
                if attempt == PORT_RETRIES - 1:
                    raise RuntimeError(f"server could not bind its ports in {PORT_RETRIES} tries:\n{self.log()}") from None

    def _choose_ports(self) -> None:
        self.http_port = free_port()
        self.smtp_port = free_port()
        while self.smtp_port == self.http_port:
            self.smtp_port = free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.log_path = self.data_dir / f"server-{self.http_port}.log"
        cmd = [sys.executable, "-m", "multimail_server.cli", "serve", "--data-dir", str(self.data_dir),
               "--http-port", str(self.http_port), "--smtp-port", str(self.smtp_port)]
        if self._explicit_database_url:
            cmd += ["--database-url", self._explicit_database_url]
        if not self._smtp:
            cmd.append("--no-smtp")
        self._cmd = cmd

    def _start(self, mode: str) -> None:
        self._log = open(self.log_path, mode)
        self.proc = subprocess.Popen(self._cmd, stdout=self._log, stderr=subprocess.STDOUT, env=self._env)
        try:
            self._wait_healthy()
        except BaseException:  # a timeout, an early exit, or the test run interrupted: no orphan server
            self.stop()
            raise

    def restart(self) -> None:
        """Stop the server and start it again on the same ports and data, as an operator's
        restart (clients keep their base URL); the log goes on in the same file."""
        self.stop()
        self._start("a")

    def query(self, sql: str, **params: Any) -> list[tuple]:
        """Rows of one SQL statement against this server's database, SQLite or PostgreSQL (for
        tests that look at what was stored, e.g. the bytes capture mode kept)."""
        from sqlalchemy import create_engine, text

        url = self.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(sql), params)]
        finally:
            engine.dispose()

    def _wait_healthy(self, timeout: float | None = None) -> None:
        timeout = START_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.log()
                if "already in use" in log.lower():  # the server names the port it could not bind
                    raise _PortTaken(f"a port of the server was taken:\n{log}")
                raise RuntimeError(f"server exited early:\n{log}")
            try:
                if requests.get(self.base + "/health", timeout=2).status_code == 200:
                    m = re.search(r"(mm_live_[A-Za-z0-9_-]+)", self.log())
                    self.admin_key = m.group(1) if m else None
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not healthy in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


class _PortTaken(RuntimeError):
    """The server exited because a port it was given was taken meanwhile (the start is retried on
    other ports; a restart, which must keep its ports, fails with it)."""


def wait_for(fn, timeout: float = 15.0, *, what: str | Callable[[], str] = "condition"):
    """Call `fn` until it returns something truthy (returned), failing the test after `timeout` s.
    `what` names the condition in the failure; a callable is asked then, to say what was last seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what() if callable(what) else what}"
        time.sleep(0.05)


class Api:
    """`requests` against a server with one key, as a hosted-API client would use it."""

    def __init__(self, base: str, key: str | None):
        self.base = base
        self.key = key
        self.session = requests.Session()

    def headers(self, extra: dict | None = None) -> dict:
        h = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return {**h, **(extra or {})}

    def get(self, verb: str, **params):
        return self.session.get(f"{self.base}/v1/{verb}", params=params, headers=self.headers(), timeout=30)

    def post(self, verb: str, body=None, headers: dict | None = None, **kw):
        return self.session.post(f"{self.base}/v1/{verb}", json=body, headers=self.headers(headers), timeout=30, **kw)

    def ok(self, method: str, verb: str, body=None, **params) -> dict:
        r = self.post(verb, body) if method == "POST" else self.get(verb, **params)
        assert r.status_code == 200, f"{method} {verb}: {r.status_code} {r.text}"
        return r.json()


# DNS answers for the session server's sender checks (no network here): partner.test sends from
# loopback with SPF and a DMARC policy, so its mail is authenticated (replies to decide_email
# from it may decide); any other domain is not.
SESSION_DNS = {
    "partner.test": ["v=spf1 ip4:127.0.0.1 ip6:::1 -all"],
    "_dmarc.partner.test": ["v=DMARC1; p=reject"],
}


def start_session_server(data: Path, database_url: str | None = None, env: dict[str, str] | None = None) -> ServerProcess:
    """A server that takes the session's DNS answers (written to ``data``), with ``env`` on top."""
    dns = data / "dns.json"
    dns.write_text(json.dumps(SESSION_DNS))
    return ServerProcess(data, database_url=database_url, env={"MULTIMAIL_DNS_OVERRIDES": str(dns), **(env or {})})


_prefect_harness: dict[str, Any] = {"users": 0, "url": None, "stack": None}


@contextlib.contextmanager
def shared_prefect_harness() -> Iterator[str]:
    """Prefect's own ``prefect_test_harness`` (a temporary, SQLite-backed Prefect server), started
    once however many suites of the session ask for it; its API URL. Flows run in the test
    process report to it."""
    if _prefect_harness["users"] == 0:
        from prefect.settings import PREFECT_API_URL
        from prefect.testing.utilities import prefect_test_harness

        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry calls (no network here)
        stack = contextlib.ExitStack()
        stack.enter_context(prefect_test_harness(server_startup_timeout=90))
        _prefect_harness.update(stack=stack, url=PREFECT_API_URL.value())
    _prefect_harness["users"] += 1
    try:
        yield _prefect_harness["url"]
    finally:
        _prefect_harness["users"] -= 1
        if _prefect_harness["users"] == 0:
            stack, _prefect_harness["stack"] = _prefect_harness["stack"], None
            stack.close()


def require_service(name: str, available: bool, how: str) -> None:
    """Skip a test whose service is missing; under CI=true fail it instead, so a green run never
    hides untested promises (the multi-server, SKIP LOCKED and shared-limit tests)."""
    if available:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{name} is required under CI=true: {how}", pytrace=False)
    pytest.skip(f"{name} not available: {how}")


@pytest.fixture(scope="session")
def prefect_api_url():
    """A real, temporary Prefect server for the session (see :func:`shared_prefect_harness`)."""
    try:
        import prefect  # noqa: F401
    except ImportError:
        require_service("prefect", False, 'pip install -e ".[test]"')
    with shared_prefect_harness() as url:
        yield url


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory, prefect_api_url) -> Iterator[ServerProcess]:
    """A MultiMail server that resumes flow runs through that Prefect API (with the session's
    DNS answers, so replies from partner.test may decide)."""
    srv = start_session_server(tmp_path_factory.mktemp("prefect-server"), env={"MULTIMAIL_PREFECT_API_URL": prefect_api_url})
    yield srv
    srv.stop()
