"""A real HTTP receiver on loopback whose answers a test scripts, and a store-level context."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from multimail_server.config import Settings
from multimail_server.services import Context
from multimail_server.store import open_store
from tests.conftest import Clock


class Receiver:
    """Answers each POST with the next scripted (status, headers, body); then 200. With a
    `gate`, each POST is held (after `arrived` is set) until the gate opens."""

    def __init__(self, port: int = 0, *, keep_alive: bool = False, gate: threading.Event | None = None):
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict, bytes]] = []
        self.lock = threading.Lock()
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                if gate is not None:
                    receiver.arrived.set()
                    gate.wait(10)
                with receiver.lock:
                    receiver.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body, "path": self.path,
                                              "client": self.client_address})
                    status, headers, payload = receiver.script.pop(0) if receiver.script else (200, {}, b"ok")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        if keep_alive:  # HTTP/1.1: the connection stays open between requests
            Handler.protocol_version = "HTTP/1.1"

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def wctx(db_url, tmp_path):
    """A Context on a fresh database with a hand-moved clock and a short retry schedule."""
    clock = Clock(Clock.real_now())
    settings = Settings(data_dir=tmp_path, webhook_retry_schedule=[1, 2, 4], webhook_disable_after_failures=2,
                        webhook_timeout_seconds=3)
    ctx = Context(store=open_store(db_url), settings=settings, clock=clock)
    ctx.test_clock = clock
    yield ctx
    ctx.store.dispose()
