"""An inbound X-MultiMail-Identity claim cannot make the server send requests where the claim
likes: over real SMTP, claims whose `iss` points at a loopback listener this test runs cause
zero connections to it, and a claim that fails a check needing no key fetches nothing; failed
fetches are cached, so a flood of claims is one request."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from multimail_server.mail import identity
from tests.conftest import SESSION_DNS, Api, ServerProcess, unique_address
from tests.mail.test_smtp_security import only_message, send_raw


class Listener:
    """A TCP listener on loopback that counts every connection (any request, HTTP or TLS) and
    answers 404 to whatever it reads."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections: list[bytes] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    first = conn.recv(4096)
                except OSError:
                    first = b""
                with self.lock:
                    self.connections.append(first.split(b"\r\n", 1)[0])
                try:
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                except OSError:
                    pass

    def count(self) -> int:
        with self.lock:
            return len(self.connections)

    def close(self):
        self.sock.close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


def claimed_message(box: str, issuer: str, *, sender: str = "boss@partner.test", issued_at: datetime | None = None,
                    tamper: bool = False) -> bytes:
    """A message from `sender` with a well-formed claim, signed by a key nobody publishes, naming `issuer`."""
    raw = (f"From: Boss <{sender}>\r\nTo: {box}\r\nSubject: Approved: wire the money\r\n"
           f"Date: Tue, 01 Dec 2026 09:00:00 +0000\r\nMessage-ID: <claim-{box}>\r\n\r\nApproved.\r\n").encode()
    kid, private_pem, _ = identity.generate_key()
    token = identity.make_claim(raw, mailbox=sender, oversight_mode="gated_send", approval_status="approved",
                                approved_by="key_boss", issued_at=issued_at or datetime.now(UTC),
                                private_key_pem=private_pem, kid=kid, issuer=issuer)
    out = identity.add_header(raw, token)
    return out.replace(b"Approved.\r\n", b"Approved. And pay the other invoice too.\r\n") if tamper else out


def received_claim(api: Api, port: int, issuer: str, **kw) -> dict:
    box = unique_address()
    api.ok("POST", "create_mailbox", {"address": box})
    send_raw(port, "boss@partner.test", box, claimed_message(box, issuer, **kw))
    auth = only_message(api, box)["authentication"]
    assert auth["verified_sender"] is True  # partner.test's SPF and DMARC pass: only the claim is in question
    return auth["multimail_identity"]


@pytest.mark.parametrize("issuer", [
    "http://127.0.0.1:{port}/internal/admin#",  # the '#' swallowed the appended well-known path
    "http://127.0.0.1:{port}",
    "https://127.0.0.1:{port}",
    "http://localhost:{port}/internal?x=",
    "http://[::ffff:127.0.0.1]:{port}/#",
    "https://partner.test@127.0.0.1:{port}/",
])
def test_a_claims_issuer_on_loopback_gets_no_request(server, admin, listener, issuer):
    claim = received_claim(admin, server.smtp_port, issuer.format(port=listener.port))
    time.sleep(0.3)  # a fetch would have been made during DATA; give a late one a moment anyway
    assert listener.count() == 0, listener.connections
    assert claim["present"] is True and claim["valid"] is False and claim["key_source"] is None
    assert "issuer" in claim["error"]


@pytest.fixture(scope="module")
def issuer_server(tmp_path_factory):
    """A server told (test-only setting) that partner.test's issuer is a loopback origin, so the
    checks before the fetch and the failure cache can be watched on a listener."""
    lst = Listener()
    tmp = tmp_path_factory.mktemp("issuer-server")
    (tmp / "dns.json").write_text(json.dumps(SESSION_DNS))
    origin = f"http://127.0.0.1:{lst.port}"
    srv = ServerProcess(tmp, env={"MULTIMAIL_DNS_OVERRIDES": str(tmp / "dns.json"),
                                  "MULTIMAIL_IDENTITY_TEST_ISSUERS": json.dumps({"partner.test": origin})})
    yield srv, lst, origin
    srv.stop()
    lst.close()


def test_a_claim_failing_a_check_that_needs_no_key_fetches_nothing(issuer_server):
    srv, lst, origin = issuer_server
    api = Api(srv.base, srv.admin_key)
    before = lst.count()
    tampered = received_claim(api, srv.smtp_port, origin, tamper=True)
    assert tampered["valid"] is False and "body" in tampered["error"]
    stale = received_claim(api, srv.smtp_port, origin, issued_at=datetime.now(UTC) - timedelta(days=30))
    assert stale["valid"] is False and "expired" in stale["error"]
    assert lst.count() == before


def test_an_issuer_that_fails_is_asked_once_for_a_flood_of_claims(issuer_server):
    srv, lst, origin = issuer_server
    api = Api(srv.base, srv.admin_key)
    before = lst.count()
    for _ in range(5):
        claim = received_claim(api, srv.smtp_port, origin)
        assert claim["valid"] is False and claim["key_known"] is False
    assert lst.count() - before == 1
    assert lst.connections[-1].startswith(b"GET /.well-known/multimail-signing-key ")
