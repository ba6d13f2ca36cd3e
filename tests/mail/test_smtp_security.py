"""Inbound SMTP hardening against a real `multimail serve`: sender authentication with offline DNS
(MULTIMAIL_DNS_OVERRIDES), STARTTLS (trustme), AUTH with an API key, the size limit, and malformed
mail that is stored rather than refused."""

import base64
import json
import smtplib
import ssl

import dkim
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import Api, ServerProcess, unique_address

HOSTNAME = "mx.acme.test"
MAX_BYTES = 200_000


@pytest.fixture(scope="module")
def dkim_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    public = base64.b64encode(key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    return private, public


@pytest.fixture(scope="module")
def dns_server(tmp_path_factory, dkim_key):
    """A server whose DNS answers come from a JSON file: partner.test publishes SPF for loopback,
    a DKIM key and p=reject; bank.test publishes p=reject and nothing that would let us pass."""
    _, public = dkim_key
    tmp = tmp_path_factory.mktemp("dns-server")
    overrides = tmp / "dns.json"
    overrides.write_text(json.dumps({
        "partner.test": ["v=spf1 ip4:127.0.0.1 -all"],
        "sel1._domainkey.partner.test": [f"v=DKIM1; k=rsa; p={public}"],
        "_dmarc.partner.test": ["v=DMARC1; p=reject"],
        "bank.test": ["v=spf1 ip4:192.0.2.1 -all"],
        "_dmarc.bank.test": ["v=DMARC1; p=reject"],
    }))
    srv = ServerProcess(tmp, env={"MULTIMAIL_DNS_OVERRIDES": str(overrides), "MULTIMAIL_HOSTNAME": HOSTNAME,
                                  "MULTIMAIL_MAX_MESSAGE_BYTES": str(MAX_BYTES)})
    yield srv
    srv.stop()


def new_mailbox(api: Api) -> str:
    address = unique_address()
    api.ok("POST", "create_mailbox", {"address": address})
    return address


def only_message(api: Api, box: str) -> dict:
    """The one message of `box`, spam or not (these tests are about what was authenticated; where
    it is filed is tests/spam's)."""
    [item] = api.ok("GET", "check_inbox", mailbox=box, include_spam="true")["messages"]
    return api.ok("GET", "read_email", message_id=item["message_id"])


def raw_message(box: str, from_addr: str, subject: str, body: bytes = b"Hello.\r\n", extra: bytes = b"") -> bytes:
    return (f"From: {from_addr}\r\nTo: {box}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}-{box}>\r\n").encode() + extra + b"\r\n" + body


def stored_raw(srv, message_id: str) -> bytes:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{srv.data_dir.resolve() / 'multimail.db'}")
    try:
        with engine.connect() as conn:
            # Inbound bytes are kept once in raw_blobs, named by the message's raw_sha256.
            return conn.execute(text("SELECT b.raw FROM messages m JOIN raw_blobs b ON b.sha256 = m.raw_sha256 "
                                     "WHERE m.id = :id"), {"id": message_id}).scalar_one()
    finally:
        engine.dispose()


def send_raw(port: int, sender: str, rcpt: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
        s.ehlo("client.partner.test")
        s.sendmail(sender, [rcpt], raw)


def test_read_email_shows_authentication_for_mail_over_smtp(dns_server, dkim_key):
    private, _ = dkim_key
    api = Api(dns_server.base, dns_server.admin_key)
    box = new_mailbox(api)
    raw = raw_message(box, "Ana <ana@partner.test>", "signed hello")
    signed = dkim.sign(raw, b"sel1", b"partner.test", private, include_headers=[b"from", b"to", b"subject", b"message-id"]) + raw
    send_raw(dns_server.smtp_port, "bounce@partner.test", box, signed)
    auth = only_message(api, box)["authentication"]
    assert auth["spf"]["result"] == "pass" and auth["spf"]["domain"] == "partner.test"
    assert auth["dkim"] == [{"result": "pass", "domain": "partner.test", "selector": "sel1"}]
    assert auth["dmarc"]["result"] == "pass" and auth["dmarc"]["policy"] == "reject"
    assert auth["verified_sender"] is True and auth["from_domain"] == "partner.test"


def test_spoofed_sender_is_stored_but_not_verified(dns_server):
    api = Api(dns_server.base, dns_server.admin_key)
    box = new_mailbox(api)
    # Claims to be the bank, and claims our own server already verified it.
    raw = raw_message(box, "Bank <security@bank.test>", "urgent",
                      extra=f"Authentication-Results: {HOSTNAME}; dmarc=pass header.from=bank.test\r\n".encode())
    send_raw(dns_server.smtp_port, "security@bank.test", box, raw)
    auth = only_message(api, box)["authentication"]
    assert auth["spf"]["result"] == "fail"
    assert auth["dkim"] == []
    assert auth["dmarc"]["result"] == "fail" and auth["dmarc"]["policy"] == "reject"
    assert auth["verified_sender"] is False
    # A forgery of a p=reject domain is kept, but out of the inbox: the baseline flags it as spam.
    assert only_message(api, box)["spam"]["state"] in ("flagged", "quarantined")
    assert api.ok("GET", "check_inbox", mailbox=box)["messages"] == []
    # The stored raw message carries our verdict, and not the forged one.
    stored = stored_raw(dns_server, only_message(api, box)["message_id"]).decode()
    assert stored.startswith(f"Authentication-Results: {HOSTNAME};")
    assert "dmarc=fail" in stored and "dmarc=pass" not in stored


def test_message_over_the_size_limit_is_refused_with_552(dns_server):
    api = Api(dns_server.base, dns_server.admin_key)
    box = new_mailbox(api)
    big = raw_message(box, "ana@partner.test", "big", body=(b"x" * 998 + b"\r\n") * (MAX_BYTES // 1000 + 20))
    # With SIZE declared, refused at MAIL FROM.
    with smtplib.SMTP("127.0.0.1", dns_server.smtp_port, timeout=20) as s:
        with pytest.raises(smtplib.SMTPSenderRefused) as info:
            s.sendmail("ana@partner.test", [box], big)
        assert info.value.smtp_code == 552
    # Without SIZE, refused after DATA; one huge line counts the same.
    for payload in (big, raw_message(box, "ana@partner.test", "one line", body=b"y" * (MAX_BYTES + 5000) + b"\r\n")):
        with smtplib.SMTP("127.0.0.1", dns_server.smtp_port, timeout=20) as s:
            s.ehlo()
            assert s.mail("ana@partner.test")[0] == 250
            assert s.rcpt(box)[0] == 250
            code, reply = s.data(payload)
            assert code == 552, reply
    assert api.ok("GET", "check_inbox", mailbox=box)["messages"] == []


def test_malformed_8bit_garbage_is_accepted_and_stored(dns_server):
    api = Api(dns_server.base, dns_server.admin_key)
    box = new_mailbox(api)
    garbage = (b"From: \xff\xfe Gr\xfc\xdfe <ana@partner.test>\r\nTo: " + box.encode() + b"\r\n"
               b"Subject: \x80\x81 caf\xe9 \xe2\x82\r\nContent-Type: multipart/mixed; boundary=\"nope\"\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\n"
               b"--wrong\r\n\x00\x01\x02 not base64 at all \xff\r\n" + b"z" * 5000 + b"\r\n")
    with smtplib.SMTP("127.0.0.1", dns_server.smtp_port, timeout=20) as s:
        s.ehlo()
        assert s.mail("ana@partner.test")[0] == 250
        assert s.rcpt(box)[0] == 250
        code, reply = s.data(garbage)
    assert code == 250, reply
    full = only_message(api, box)
    assert full["direction"] == "inbound"
    # Sender checks still ran: the envelope and From domain are partner.test, sent from loopback.
    assert full["authentication"]["spf"]["result"] == "pass"
    assert full["authentication"]["from_domain"] == "partner.test"


def test_encoded_crlf_in_from_display_name_is_stored_not_451(dns_server):
    api = Api(dns_server.base, dns_server.admin_key)
    box = new_mailbox(api)
    raw = raw_message(box, "=?utf-8?q?Evil=0D=0ABcc=3A_victim=40x.test?= <ana@partner.test>", "crlf")
    with smtplib.SMTP("127.0.0.1", dns_server.smtp_port, timeout=20) as s:
        s.ehlo()
        s.mail("ana@partner.test")
        s.rcpt(box)
        code, reply = s.data(raw)
    assert code == 250, reply
    full = only_message(api, box)
    assert "\r" not in full["from"] and "\n" not in full["from"]


# --- STARTTLS and AUTH ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, ca):
    tmp = tmp_path_factory.mktemp("tls-server")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    key_path.write_bytes(cert.private_key_pem.bytes())
    srv = ServerProcess(tmp, env={"MULTIMAIL_SMTP_TLS_CERT": str(cert_path), "MULTIMAIL_SMTP_TLS_KEY": str(key_path),
                                  "MULTIMAIL_SMTP_AUTH_REQUIRED": "true"})
    yield srv
    srv.stop()


def client_tls(ca) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


def test_starttls_and_auth_with_an_agent_key(tls_server, ca):
    admin = Api(tls_server.base, tls_server.admin_key)
    box = new_mailbox(admin)
    agent = admin.ok("POST", "create_api_key", {"role": "agent", "name": "smtp agent", "mailboxes": [box]})["api_key"]
    msg = raw_message(box, "ana@partner.test", "over tls")
    with smtplib.SMTP("127.0.0.1", tls_server.smtp_port, timeout=20) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        assert not s.has_extn("auth"), "AUTH must not be offered before TLS"
        # Unauthenticated submission is refused.
        code, _ = s.mail("ana@partner.test")
        assert code == 530
        code, _ = s.rcpt(box)
        assert code == 530
        s.starttls(context=client_tls(ca))
        s.ehlo()
        assert s.sock.version() is not None
        assert "PLAIN" in s.esmtp_features["auth"] and "LOGIN" in s.esmtp_features["auth"]
        s.login("agent", agent)
        s.sendmail("ana@partner.test", [box], msg)
    assert only_message(admin, box)["subject"] == "over tls"


def test_auth_refuses_bad_keys_and_keys_without_send_scope(tls_server, ca):
    admin = Api(tls_server.base, tls_server.admin_key)
    box, other = new_mailbox(admin), new_mailbox(admin)
    reader = admin.ok("POST", "create_api_key", {"scopes": ["read"], "name": "reader"})["api_key"]
    agent_other = admin.ok("POST", "create_api_key", {"role": "agent", "name": "other", "mailboxes": [other]})["api_key"]
    for bad in ("mm_live_not-a-key", reader):
        with smtplib.SMTP("127.0.0.1", tls_server.smtp_port, timeout=20) as s:
            s.starttls(context=client_tls(ca))
            with pytest.raises(smtplib.SMTPAuthenticationError) as info:
                s.login("agent", bad)
            assert info.value.smtp_code == 535
            assert s.mail("ana@partner.test")[0] == 530
    # A key for another mailbox may not submit to this one.
    with smtplib.SMTP("127.0.0.1", tls_server.smtp_port, timeout=20) as s:
        s.starttls(context=client_tls(ca))
        s.login("agent", agent_other)
        assert s.mail("ana@partner.test")[0] == 250
        assert s.rcpt(box)[0] == 550
        assert s.rcpt(other)[0] == 250


def test_auth_without_tls_is_offered_only_on_loopback(tmp_path):
    srv = ServerProcess(tmp_path, env={"MULTIMAIL_SMTP_AUTH_REQUIRED": "true"})
    try:
        admin = Api(srv.base, srv.admin_key)
        box = new_mailbox(admin)
        agent = admin.ok("POST", "create_api_key", {"role": "agent", "name": "smtp agent"})["api_key"]
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=20) as s:
            s.ehlo()
            assert not s.has_extn("starttls") and s.has_extn("auth")
            assert s.mail("ana@partner.test")[0] == 530
            s.login("agent", agent)
            s.sendmail("ana@partner.test", [box], raw_message(box, "ana@partner.test", "plain loopback"))
        assert only_message(admin, box)["subject"] == "plain loopback"
    finally:
        srv.stop()


def test_receive_never_fails_on_parsing(monkeypatch):
    """If the parser raises (as the stdlib does for an encoded CR/LF in an address), receive()
    parses a defused copy, and failing that stores a minimal form, flagged; never a 451 loop."""
    from multimail_server.mail import parse as parse_module
    from multimail_server.services import receiving

    real = parse_module.parse_message

    def strict(raw):
        if b"=0D=0A" in raw:
            raise ValueError("address parts cannot contain CR or LF")
        return real(raw)

    monkeypatch.setattr(receiving, "parse_message", strict)
    raw = b"From: =?utf-8?q?Evil=0D=0AX-Injected=3A_1?= <a@b.test>\r\nTo: x@acme.test\r\nSubject: hi\r\n\r\nbody\r\n"
    mail = receiving._parse_inbound(raw)
    assert "\n" not in mail.from_addr and "a@b.test" in mail.from_addr and mail.text.strip() == "body"
    assert any(d.startswith("sanitised") for d in mail.defects)

    def broken(raw):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(receiving, "parse_message", broken)
    mail = receiving._parse_inbound(raw)
    assert mail.text.strip() == "body" and mail.defects and mail.defects[0].startswith("unparseable")
