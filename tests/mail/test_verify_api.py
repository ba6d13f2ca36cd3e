"""Sender verification over real HTTP: the published identity key, and POST /v1/verify_message
with mail this server really sent (read from its captured_mail table)."""

import base64
import json
import secrets
import sqlite3
import time
from datetime import UTC

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from typer.testing import CliRunner

from multimail_server.cli.domains import domains_app

RFC822 = {"Content-Type": "message/rfc822"}


def b64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def captured(server, message_id: str) -> bytes:
    conn = sqlite3.connect(server.data_dir / "multimail.db")
    try:
        rows = conn.execute("SELECT raw FROM captured_mail WHERE message_id = ?", (message_id,)).fetchall()
    finally:
        conn.close()
    assert len(rows) == 1
    return rows[0][0]


@pytest.fixture(scope="module")
def signed_mail(server, admin):
    """A domain with a DKIM key (added with the CLI on the running server's data), an autonomous
    mailbox in it, and one message it sent: (address, message_id, raw bytes as handed over)."""
    domain = f"sig-{secrets.token_hex(4)}.test"
    result = CliRunner().invoke(domains_app, ["add", domain, "--data-dir", str(server.data_dir)])
    assert result.exit_code == 0, result.output
    address = f"agent@{domain}"
    admin.ok("POST", "create_mailbox", {"address": address, "oversight_mode": "autonomous"})
    sent = admin.ok("POST", "send_email", {"from": address, "to": "bob@partner.test", "subject": "Signed report",
                                           "body": "All green.\n"})
    deadline = time.monotonic() + 10
    while admin.ok("GET", "read_email", message_id=sent["message_id"])["status"] != "sent":
        assert time.monotonic() < deadline, "message was not delivered"
        time.sleep(0.1)
    return address, sent["message_id"], captured(server, sent["message_id"])


def verify(server, body: bytes, headers=RFC822) -> requests.Response:
    return requests.post(server.base + "/v1/verify_message", data=body, headers=headers, timeout=30)


def test_the_signing_key_is_published_and_verifies_the_header(server, signed_mail):
    r = requests.get(server.base + "/.well-known/multimail-signing-key", timeout=10)
    assert r.status_code == 200
    doc = r.json()
    [jwk] = [k for k in doc["keys"] if k["kid"] == doc["kid"]]
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-256" and jwk["alg"] == "ES256" and "BEGIN PUBLIC KEY" in jwk["pem"]

    # Verify the header with nothing but the published JWK (what a third party would do).
    _, message_id, raw = signed_mail
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    value = head.split("X-MultiMail-Identity:", 1)[1]
    # the header's own line, then only the continuation lines that directly follow it
    lines = value.split("\r\n")
    token = lines[0].strip()
    for line in lines[1:]:
        if not line.startswith((" ", "\t")):
            break
        token += line.strip()
    h, p, s = token.split(".")
    header, payload, sig = json.loads(b64u(h)), json.loads(b64u(p)), b64u(s)
    assert header == {"alg": "ES256", "kid": doc["kid"], "typ": "multimail-identity+jws"}
    key = ec.EllipticCurvePublicNumbers(int.from_bytes(b64u(jwk["x"]), "big"), int.from_bytes(b64u(jwk["y"]), "big"),
                                        ec.SECP256R1()).public_key()
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    key.verify(der, f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if invalid
    assert payload["message_id"].startswith(f"<{message_id}@")
    assert payload["ai_generated"] is True and payload["oversight_mode"] == "autonomous" and payload["approved_by"] is None


def test_verify_message_reports_what_a_real_message_proves(server, signed_mail):
    address, message_id, raw = signed_mail
    r = verify(server, raw)
    assert r.status_code == 200, r.text
    body = r.json()
    domain = address.split("@")[1]
    assert body["dkim"]["valid"] is True and body["dkim"]["domain"] == domain and body["dkim"]["key_source"] == "local"
    ident = body["identity"]
    assert ident["valid"] is True, ident
    assert ident["mailbox"] == address and ident["oversight_mode"] == "autonomous"
    assert ident["approved_by"] is None and ident["ai_generated"] is True and ident["issued_at"]
    assert any(domain in p for p in body["proves"]) and any(address in p for p in body["proves"])
    assert body["does_not_prove"]
    # text/plain is accepted too (curl --data-binary with a text type)
    assert verify(server, raw, {"Content-Type": "text/plain"}).json()["identity"]["valid"] is True


@pytest.mark.parametrize("edit", [
    (b"Subject: Signed report", b"Subject: Signed refund"),
    (b"All green.", b"All red!!."),
    (b"To: bob@partner.test", b"To: eve@evil.test"),
])
def test_an_altered_message_is_reported_invalid(server, signed_mail, edit):
    _, _, raw = signed_mail
    old, new = edit
    assert raw.count(old) == 1
    body = verify(server, raw.replace(old, new)).json()
    assert body["dkim"]["valid"] is False
    assert body["identity"]["valid"] is False and body["identity"]["error"]
    assert body["proves"] == []


def test_a_forged_claim_with_an_unknown_key_is_reported(server, signed_mail):
    _, _, raw = signed_mail
    from multimail_server.mail import identity

    kid, private_pem, _ = identity.generate_key()
    unsigned = raw.split(b"\r\n", 1)[1]
    while unsigned.startswith((b" ", b"\t")):  # drop the DKIM-Signature's continuation lines
        unsigned = unsigned.split(b"\r\n", 1)[1]
    from datetime import datetime, timezone
    forged = identity.make_claim(unsigned, mailbox="ceo@bank.test", oversight_mode="gated_all", approval_status="approved",
                                 approved_by="key_ceo", issued_at=datetime.now(UTC), private_key_pem=private_pem, kid=kid)
    body = verify(server, identity.add_header(unsigned, forged)).json()
    assert body["dkim"]["present"] is False
    assert body["identity"]["valid"] is False and body["identity"]["key_known"] is False
    assert "unknown key id" in body["identity"]["error"]


def test_a_message_without_any_signature_proves_nothing(server):
    raw = b"From: someone@example.org\r\nTo: x@y.test\r\nSubject: hi\r\nMessage-ID: <a@b>\r\n\r\nhello\r\n"
    body = verify(server, raw).json()
    assert body["dkim"]["present"] is False and body["identity"]["present"] is False
    assert body["proves"] == [] and len(body["does_not_prove"]) >= 2


@pytest.mark.parametrize("payload", [b"", b"not an email at all", b"\x00\xff\xfe\xfd garbage bytes", b"{\"json\": true}"])
def test_garbage_is_a_400_in_the_error_shape(server, payload):
    r = verify(server, payload)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] in {"empty_message", "invalid_message"} and err["message"]


def test_wrong_content_type_and_too_large(server):
    r = verify(server, b"From: a@b.test\r\n\r\nx", {"Content-Type": "application/json"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    r = verify(server, b"X-Pad: " + b"a" * (36 * 1024 * 1024))
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_many_bogus_signatures_on_a_large_message_are_cheap_and_the_valid_one_is_found(server, admin):
    """200 DKIM-Signature headers that verify against nothing, on a ~3 MB message, in front of the
    one this server made: verify_message checks a few (From-aligned first) instead of re-parsing
    the whole message for each, and still finds the valid one."""
    domain = f"big-{secrets.token_hex(4)}.test"
    assert CliRunner().invoke(domains_app, ["add", domain, "--data-dir", str(server.data_dir)]).exit_code == 0
    address = f"agent@{domain}"
    admin.ok("POST", "create_mailbox", {"address": address, "oversight_mode": "autonomous"})
    body = ("Quarterly numbers, line after line of them. " * 22 + "\n") * 3000
    sent = admin.ok("POST", "send_email", {"from": address, "to": "bob@partner.test", "subject": "Big report", "body": body})
    deadline = time.monotonic() + 30
    while admin.ok("GET", "read_email", message_id=sent["message_id"])["status"] != "sent":
        assert time.monotonic() < deadline, "message was not delivered"
        time.sleep(0.2)
    raw = captured(server, sent["message_id"])
    bogus = b"".join(
        (f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=evil{i}.test; s=s{i};\r\n"
         f"\th=from:to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=Ym9ndXM{i % 10}\r\n").encode()
        for i in range(200)
    )
    attacked = bogus + raw
    assert len(attacked) > 2_900_000

    started = time.monotonic()
    assert verify(server, raw).status_code == 200
    baseline = time.monotonic() - started  # the same message with its one signature
    started = time.monotonic()
    r = verify(server, attacked)
    elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    # About 7-12 s when every signature re-parsed the message; now well under 2 s, upload included
    # (or, on a loaded machine, close to what the message with one signature costs).
    assert elapsed < max(2.0, 3 * baseline), (elapsed, baseline)
    result = r.json()
    assert result["dkim"]["valid"] is True and result["dkim"]["domain"] == domain and result["dkim"]["key_source"] == "local"
    assert len(result["dkim"]["signatures"]) == 5 and result["dkim"]["signatures_not_checked"] == 196
    assert result["identity"]["valid"] is True
