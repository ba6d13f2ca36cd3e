"""DKIM per domain and the X-MultiMail-Identity claim, over a real store and the delivery worker:
what the worker hands over verifies with dkimpy (key served from the stored record) and with the
identity key; any change to what is bound breaks it."""

import base64
import json
import re
from datetime import UTC, datetime, timezone

import dkim as dkimpy
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from multimail_server.cli.domains import domains_app
from multimail_server.config import Settings
from multimail_server.core.access import Principal
from multimail_server.core.errors import BadRequest, Conflict, NotFound
from multimail_server.mail import identity
from multimail_server.services import Context, approvals, domains, mailboxes, sending
from multimail_server.services import identity as identity_service
from multimail_server.services.delivery import DeliveryWorker
from multimail_server.store import open_store
from multimail_server.store.engine import sqlite_url_for
from multimail_server.store.tables import captured_mail, server_keys

OP = Principal.local_operator()


@pytest.fixture
def ctx(db_url, tmp_path):
    c = Context(store=open_store(db_url), settings=Settings(data_dir=tmp_path),
                clock=lambda: datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    yield c
    c.store.dispose()


def captured_raw(ctx, message_id) -> bytes:
    with ctx.store.read() as tx:
        [row] = tx.execute(select(captured_mail).where(captured_mail.c.message_id == message_id)).mappings().all()
    return row["raw"]


def dns_from_store(ctx):
    """A dkimpy dnsfunc that serves the TXT records `domains add` told us to publish."""
    records = {}
    for d in domains.list_domains(ctx, principal=OP):
        for rec in d["dns_records"]:
            records[rec["name"] + "."] = rec["value"].encode()
    queried = []

    def dnsfunc(name, timeout=5):
        queried.append(name.decode())
        return records.get(name.decode())

    dnsfunc.queried = queried
    return dnsfunc


def identity_keys(ctx):
    with ctx.store.read() as tx:
        # The identity keys only: the link HMAC key (also used for VERP envelope senders) has no public half.
        return {r["id"]: r["public_key"] for r in tx.execute(select(server_keys)).mappings() if r["kind"] != "link-hmac"}


def send_and_capture(ctx, sender, **fields) -> tuple[dict, bytes]:
    sent = sending.send_email(ctx, principal=OP, sender=sender, **{"to": "bob@partner.test", "subject": "Q3 numbers",
                                                                   "body": "Revenue is up 4%.\n", **fields})
    assert DeliveryWorker(ctx).run_once() == 1
    return sent, captured_raw(ctx, sent["message_id"])


def header_block(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def test_mail_from_a_domain_with_a_key_is_dkim_signed_and_carries_a_verifiable_claim(ctx):
    added = domains.add_domain(ctx, principal=OP, domain="acme.test", selector="s2026")
    [dkim_rec, spf, dmarc] = added["dns_records"]
    assert dkim_rec["name"] == "s2026._domainkey.acme.test" and dkim_rec["value"].startswith("v=DKIM1; k=rsa; p=MII")
    assert spf["value"].startswith("v=spf1") and dmarc["name"] == "_dmarc.acme.test"
    mailboxes.create_mailbox(ctx, principal=OP, address="agent@acme.test", oversight_mode="autonomous")
    sent, raw = send_and_capture(ctx, "agent@acme.test", cc="carol@partner.test")

    assert raw.startswith(b"DKIM-Signature:")
    dnsfunc = dns_from_store(ctx)
    assert dkimpy.verify(raw, dnsfunc=dnsfunc) is True
    assert dnsfunc.queried == ["s2026._domainkey.acme.test."]
    sig = dkimpy.DKIM(raw)
    assert sig.verify(dnsfunc=dnsfunc)
    signed = {name.lower() for name, _ in sig.signed_headers}
    assert {b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"x-multimail-identity", b"content-type"} <= signed
    assert b"c=relaxed/relaxed" in header_block(raw).replace(b"\r\n", b"").replace(b" ", b"")

    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert all(len(line) <= 78 for line in header_block(raw).split(b"\r\n") if line.lower().startswith(b"x-multimail-identity"))
    claim = identity.verify(raw, key_lookup=identity_keys(ctx).get)
    assert claim["valid"] is True, claim
    assert claim["mailbox"] == "agent@acme.test" and claim["oversight_mode"] == "autonomous"
    assert claim["approved_by"] is None and claim["ai_generated"] is True
    assert claim["message_id"] == f"<{sent['message_id']}@acme.test>"
    assert claim["issued_at"].endswith("Z")
    assert all(claim["checks"].values())

    # The service verdict, with the key taken from the store and DNS disabled.
    verdict = identity_service.verify_message(ctx, raw=raw, dnsfunc=None)
    assert verdict["dkim"]["valid"] is True and verdict["dkim"]["key_source"] == "local"
    assert verdict["dkim"]["domain"] == "acme.test" and verdict["dkim"]["selector"] == "s2026"
    assert verdict["identity"]["valid"] is True
    assert any("acme.test signed" in p for p in verdict["proves"])
    assert any("agent@acme.test" in p and "autonomous" in p for p in verdict["proves"])
    assert any("human reviewed" in p for p in verdict["does_not_prove"])


def tamper(raw: bytes, old: bytes, new: bytes) -> bytes:
    assert raw.count(old) == 1, old
    return raw.replace(old, new)


@pytest.mark.parametrize("change", ["body", "subject", "to", "added_cc", "message_id"])
def test_tampering_breaks_dkim_and_the_identity_binding(ctx, change):
    domains.add_domain(ctx, principal=OP, domain="acme.test")
    mailboxes.create_mailbox(ctx, principal=OP, address="agent@acme.test", oversight_mode="autonomous")
    sent, raw = send_and_capture(ctx, "agent@acme.test")
    keys = identity_keys(ctx).get
    assert dkimpy.verify(raw, dnsfunc=dns_from_store(ctx)) and identity.verify(raw, key_lookup=keys)["valid"]
    if change == "body":
        bad = tamper(raw, b"Revenue is up 4%.", b"Revenue is up 40%")
        check = "body"
    elif change == "subject":
        bad = tamper(raw, b"Subject: Q3 numbers", b"Subject: Q4 numbers")
        check = "headers"
    elif change == "to":
        bad = tamper(raw, b"To: bob@partner.test", b"To: eve@evil.test")
        check = "headers"
    elif change == "added_cc":
        bad = tamper(raw, b"\r\nSubject:", b"\r\nCc: eve@evil.test\r\nSubject:")
        check = "headers"
    else:
        bad = tamper(raw, f"Message-ID: <{sent['message_id']}@acme.test>".encode(), b"Message-ID: <other@acme.test>")
        check = "message_id"
    assert dkimpy.verify(bad, dnsfunc=dns_from_store(ctx)) is False
    claim = identity.verify(bad, key_lookup=keys)
    assert claim["valid"] is False and claim["checks"]["signature"] is True and claim["checks"][check] is False
    verdict = identity_service.verify_message(ctx, raw=bad, dnsfunc=None)
    assert verdict["dkim"]["valid"] is False and verdict["identity"]["valid"] is False
    assert not any("signed" in p or "Identity" in p for p in verdict["proves"])


def test_the_claim_cannot_be_moved_onto_another_message_or_forged(ctx):
    mailboxes.create_mailbox(ctx, principal=OP, address="agent@acme.test", oversight_mode="autonomous")
    _, first = send_and_capture(ctx, "agent@acme.test", subject="first")
    _, second = send_and_capture(ctx, "agent@acme.test", subject="second")
    keys = identity_keys(ctx).get
    assert len(identity_keys(ctx)) == 1  # one key, created on first use and reused
    assert identity.verify(first, key_lookup=keys)["valid"]
    token = re.search(rb"X-MultiMail-Identity: (.*?)\r\n(?! )", first, re.S).group(1)
    moved = identity.add_header(second, token.decode())
    claim = identity.verify(moved, key_lookup=keys)
    assert claim["valid"] is False and claim["checks"]["signature"] and not claim["checks"]["message_id"]

    # A payload edited to claim an approval: the signature no longer verifies.
    head, payload, sig = "".join(token.decode().split()).split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["approved_by"] = "key_boss"
    forged_payload = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    claim = identity.verify(identity.add_header(first, f"{head}.{forged_payload}.{sig}"), key_lookup=keys)
    assert claim["valid"] is False and claim["checks"]["signature"] is False and claim["key_known"] is True

    # A claim signed by a key this server never published.
    kid, private_pem, _ = identity.generate_key()
    foreign = identity.make_claim(first, mailbox="agent@acme.test", oversight_mode="gated_all", approval_status="approved",
                                  approved_by="key_boss", issued_at=datetime.now(UTC), private_key_pem=private_pem, kid=kid)
    claim = identity.verify(identity.add_header(first, foreign), key_lookup=keys)
    assert claim["valid"] is False and claim["key_known"] is False and "unknown key id" in claim["error"]


def test_approved_mail_names_its_approver_and_unsigned_domains_get_no_dkim(ctx):
    mailboxes.create_mailbox(ctx, principal=OP, address="agent@nokey.test", oversight_mode="gated_send")
    sent = sending.send_email(ctx, principal=OP, sender="agent@nokey.test", to="bob@partner.test", subject="Hi", body="x")
    assert sent["status"] == "pending"
    approvals.approve_message(ctx, principal=OP, message_id=sent["message_id"])
    assert DeliveryWorker(ctx).run_once() == 1
    raw = captured_raw(ctx, sent["message_id"])
    assert b"DKIM-Signature" not in raw
    claim = identity.verify(raw, key_lookup=identity_keys(ctx).get)
    assert claim["valid"] is True
    assert claim["oversight_mode"] == "gated_send" and claim["approval_status"] == "approved"
    assert claim["approved_by"] == OP.label
    verdict = identity_service.verify_message(ctx, raw=raw, dnsfunc=None)
    assert verdict["dkim"]["present"] is False and verdict["identity"]["valid"] is True
    assert any(f"approved by {OP.label}" in p for p in verdict["proves"])


def test_domain_rules(ctx):
    with pytest.raises(BadRequest):
        domains.add_domain(ctx, principal=OP, domain="not a domain")
    with pytest.raises(BadRequest):
        domains.add_domain(ctx, principal=OP, domain="acme.test", selector="bad selector")
    domains.add_domain(ctx, principal=OP, domain="ACME.test.")
    with pytest.raises(Conflict):
        domains.add_domain(ctx, principal=OP, domain="acme.test")
    with pytest.raises(NotFound):
        domains.get_domain(ctx, principal=OP, domain="other.test")
    assert [d["domain"] for d in domains.list_domains(ctx, principal=OP)] == ["acme.test"]


def test_garbage_is_refused_as_bad_request(ctx):
    for body in (b"", b"   ", b"hello world\r\nthis is not mail", b"\x00\xff\xfe binary"):
        with pytest.raises(BadRequest):
            identity_service.verify_message(ctx, raw=body, dnsfunc=None)


def test_cli_domains_add_prints_the_dkim_record(tmp_path):
    open_store(sqlite_url_for(tmp_path)).dispose()  # the store a server made there (CLI verbs make none)
    runner = CliRunner()
    result = runner.invoke(domains_app, ["add", "example.com", "--selector", "mm1", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    m = re.search(r"Name:\s+mm1\._domainkey\.example\.com\nType:\s+TXT\nValue: v=DKIM1; k=rsa; p=([A-Za-z0-9+/=]+)\n", result.output)
    assert m, result.output
    assert "v=spf1" in result.output and "_dmarc.example.com" in result.output and "v=DMARC1" in result.output
    # The printed key is the stored one, and `dns` prints it again.
    again = runner.invoke(domains_app, ["dns", "example.com", "--data-dir", str(tmp_path)])
    assert again.exit_code == 0 and m.group(1) in again.output
    listed = runner.invoke(domains_app, ["list", "--data-dir", str(tmp_path)])
    assert "example.com" in listed.output and "mm1" in listed.output
    dup = runner.invoke(domains_app, ["add", "example.com", "--data-dir", str(tmp_path)])
    assert dup.exit_code == 1 and "domain_exists" in dup.output
    missing = runner.invoke(domains_app, ["dns", "nope.test", "--data-dir", str(tmp_path)])
    assert missing.exit_code == 1
