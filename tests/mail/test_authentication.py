"""SPF, DKIM and DMARC checks on inbound mail, offline: every DNS answer comes from a fake resolver."""

import base64

import authres
import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from multimail_server.mail.auth_results import strip_authentication_results
from multimail_server.mail.authentication import authenticate_inbound, check_message
from multimail_server.mail.dmarc import organizational_domain
from multimail_server.mail.dns import StaticResolver
from multimail_server.mail.spf import check_spf

IP_OK = "192.0.2.10"
IP_BAD = "198.51.100.7"


@pytest.fixture(scope="module")
def keypair():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    public = base64.b64encode(key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    return private, public


def message(from_addr="Ana <ana@partner.test>", body=b"Numbers attached.\r\n", extra=b""):
    return (
        f"From: {from_addr}\r\nTo: agent@acme.test\r\nSubject: Q3\r\nMessage-ID: <q3@partner.test>\r\n".encode()
        + extra + b"\r\n" + body
    )


def sign(raw, private, domain=b"partner.test", selector=b"sel1"):
    return dkim.sign(raw, selector, domain, private, include_headers=[b"from", b"to", b"subject", b"message-id"]) + raw


def dns(public=None, **extra):
    records = {
        "partner.test": ["v=spf1 ip4:192.0.2.0/24 -all"],
        "soft.test": ["v=spf1 ip4:192.0.2.0/24 ~all"],
        "unrelated.test": ["some-verification=abc"],
    }
    if public:
        records["sel1._domainkey.partner.test"] = [f"v=DKIM1; k=rsa; p={public}"]
    records.update(extra)
    return StaticResolver(records)


@pytest.mark.parametrize(
    "ip,sender,expected",
    [
        (IP_OK, "bounce@partner.test", "pass"),
        (IP_BAD, "bounce@partner.test", "fail"),
        (IP_BAD, "x@soft.test", "softfail"),
        (IP_OK, "x@unrelated.test", "none"),
        (IP_OK, "x@nowhere.test", "none"),
    ],
)
def test_spf_results(ip, sender, expected):
    result = check_spf(ip, "mx.example", sender, dns())
    assert result["result"] == expected
    assert result["domain"] == sender.split("@")[1]


def test_spf_null_sender_uses_helo():
    assert check_spf(IP_OK, "partner.test", "", dns()) == {**check_spf(IP_OK, "partner.test", "", dns()), "result": "pass", "domain": "partner.test"}


def test_spf_a_and_mx_mechanisms_use_the_resolver():
    resolver = StaticResolver({
        "mxd.test": {"TXT": ["v=spf1 mx a:web.mxd.test -all"], "MX": [[10, "mail.mxd.test"]]},
        "mail.mxd.test": {"A": ["203.0.113.5"]},
        "web.mxd.test": {"A": ["203.0.113.9"]},
    })
    assert check_spf("203.0.113.5", "h", "a@mxd.test", resolver)["result"] == "pass"
    assert check_spf("203.0.113.9", "h", "a@mxd.test", resolver)["result"] == "pass"
    assert check_spf("203.0.113.7", "h", "a@mxd.test", resolver)["result"] == "fail"


def test_dkim_pass_on_a_signed_message(keypair):
    private, public = keypair
    auth = check_message(sign(message(), private), ip=IP_BAD, helo="h", mail_from="x@elsewhere.test", resolver=dns(public))
    assert auth["dkim"] == [{"result": "pass", "domain": "partner.test", "selector": "sel1"}]


def test_dkim_fails_after_body_tampering(keypair):
    private, public = keypair
    signed = sign(message(), private)
    tampered = signed.replace(b"Numbers attached.", b"Numbers attached. Wire 10k to IBAN X.")
    auth = check_message(tampered, ip=IP_BAD, helo="h", mail_from="x@elsewhere.test", resolver=dns(public, **{"_dmarc.partner.test": ["v=DMARC1; p=reject"]}))
    assert [d["result"] for d in auth["dkim"]] == ["fail"]
    assert auth["dmarc"]["result"] == "fail" and auth["verified_sender"] is False


def test_dkim_without_a_published_key_is_not_a_pass(keypair):
    private, _ = keypair
    auth = check_message(sign(message(), private), ip=IP_BAD, helo="h", mail_from="", resolver=dns())
    assert auth["dkim"][0]["result"] in ("permerror", "fail")
    assert auth["verified_sender"] is False


def test_dmarc_pass_via_aligned_dkim_even_when_spf_fails(keypair):
    private, public = keypair
    resolver = dns(public, **{"_dmarc.partner.test": ["v=DMARC1; p=reject; rua=mailto:d@partner.test"]})
    auth = check_message(sign(message(), private), ip=IP_BAD, helo="h", mail_from="bounce@partner.test", resolver=resolver)
    assert auth["spf"]["result"] == "fail"
    assert auth["dmarc"]["result"] == "pass" and auth["dmarc"]["policy"] == "reject" and auth["dmarc"]["domain"] == "partner.test"
    assert auth["dmarc"]["dkim_aligned"] is True and auth["dmarc"]["spf_aligned"] is False
    assert auth["verified_sender"] is True and auth["from_domain"] == "partner.test"


def test_dmarc_pass_via_aligned_spf():
    resolver = dns(**{"_dmarc.partner.test": ["v=DMARC1; p=quarantine"]})
    auth = check_message(message(), ip=IP_OK, helo="h", mail_from="bounce@partner.test", resolver=resolver)
    assert auth["dmarc"]["result"] == "pass" and auth["dmarc"]["spf_aligned"] is True and auth["verified_sender"] is True


def test_dmarc_fail_with_p_reject_when_nothing_aligns(keypair):
    private, public = keypair
    # SPF passes for the envelope domain and DKIM passes for partner.test, but From claims bank.test.
    resolver = dns(public, **{"_dmarc.bank.test": ["v=DMARC1; p=reject"]})
    raw = sign(message(from_addr="Bank <security@bank.test>"), private)
    auth = check_message(raw, ip=IP_OK, helo="h", mail_from="bounce@partner.test", resolver=resolver)
    assert auth["spf"]["result"] == "pass" and auth["dkim"][0]["result"] == "pass"
    assert auth["dmarc"] == {**auth["dmarc"], "result": "fail", "policy": "reject", "domain": "bank.test"}
    assert auth["verified_sender"] is False


def test_relaxed_alignment_with_subdomain_and_org_domain_fallback(keypair):
    private, public = keypair
    # From is a subdomain; the DMARC record is only at the organisational domain (sp applies).
    resolver = dns(public, **{"_dmarc.partner.test": ["v=DMARC1; p=reject; sp=quarantine"]})
    raw = sign(message(from_addr="news@mail.partner.test"), private)
    auth = check_message(raw, ip=IP_BAD, helo="h", mail_from="x@elsewhere.test", resolver=resolver)
    assert auth["from_domain"] == "mail.partner.test"
    assert auth["dmarc"]["result"] == "pass" and auth["dmarc"]["policy"] == "quarantine"
    assert auth["dmarc"]["record_domain"] == "partner.test"
    # Strict DKIM alignment refuses the same message.
    strict = dns(public, **{"_dmarc.partner.test": ["v=DMARC1; p=reject; adkim=s"]})
    auth = check_message(raw, ip=IP_BAD, helo="h", mail_from="x@elsewhere.test", resolver=strict)
    assert auth["dmarc"]["result"] == "fail" and auth["verified_sender"] is False


def test_no_dmarc_record_is_none_and_not_verified(keypair):
    private, public = keypair
    auth = check_message(sign(message(), private), ip=IP_OK, helo="h", mail_from="b@partner.test", resolver=dns(public))
    assert auth["dmarc"]["result"] == "none" and auth["verified_sender"] is False


def test_organizational_domain():
    assert organizational_domain("a.b.partner.test") == "partner.test"
    assert organizational_domain("mail.example.co.uk") == "example.co.uk"


def test_dns_errors_are_temperror_not_a_crash(keypair):
    private, public = keypair

    def broken(name):
        raise TimeoutError("DNS timed out")

    auth = check_message(sign(message(), private), ip=IP_OK, helo="h", mail_from="b@partner.test", resolver=broken)
    assert auth["spf"]["result"] == "temperror"
    assert auth["dkim"][0]["result"] == "temperror"
    assert auth["dmarc"]["result"] == "temperror"
    assert auth["verified_sender"] is False
    # A configured failure in the static resolver behaves the same.
    failing = StaticResolver({"partner.test": "TEMPERROR", "_dmarc.partner.test": "TEMPERROR"})
    auth = check_message(message(), ip=IP_OK, helo="h", mail_from="b@partner.test", resolver=failing)
    assert auth["spf"]["result"] == "temperror" and auth["dmarc"]["result"] == "temperror"


def test_garbage_never_crashes():
    for raw in (b"", b"\xff\xfe\x00garbage", b"From: \r\n\r\n", b"From: a@b@c\r\nDKIM-Signature: v=1; d=; s=\r\n\r\nx"):
        auth = check_message(raw, ip="not-an-ip", helo=None, mail_from=None, resolver=dns())
        assert auth["verified_sender"] is False


def test_spoofed_authentication_results_are_stripped_and_ours_prepended(keypair):
    private, public = keypair
    spoof = (b"Authentication-Results: mx.acme.test;\r\n\tdmarc=pass header.from=bank.test\r\n"
             b"Authentication-Results: (comment) MX.ACME.TEST; spf=pass\r\n"
             b"Authentication-Results: other.example; dkim=pass header.d=bank.test\r\n")
    raw = message(from_addr="security@bank.test", extra=spoof)
    auth, stored = authenticate_inbound(raw, ip=IP_BAD, helo="h", mail_from="x@bank.test", authserv_id="mx.acme.test",
                                        resolver=dns(**{"_dmarc.bank.test": ["v=DMARC1; p=reject"]}))
    assert auth["verified_sender"] is False
    head = stored.split(b"\r\n\r\n")[0].decode()
    assert head.count("Authentication-Results: mx.acme.test;") == 1
    assert "MX.ACME.TEST" not in head and "other.example; dkim=pass" in head
    assert head.startswith("Authentication-Results: mx.acme.test;")
    ours = stored.decode().split("\r\nFrom:")[0].split("\r\nAuthentication-Results: other.example")[0]
    parsed = authres.AuthenticationResultsHeader.parse(ours.replace("\r\n\t", " "))
    assert parsed.authserv_id == "mx.acme.test"
    assert {r.method: r.result for r in parsed.results} == {"spf": "none", "dkim": "none", "dmarc": "fail"}
    assert stored.endswith(b"\r\n\r\nNumbers attached.\r\n")


def test_strip_leaves_messages_without_our_results_alone():
    raw = message()
    assert strip_authentication_results(raw, "mx.acme.test") == raw


def test_all_dns_of_one_message_shares_one_deadline_and_running_out_is_never_a_pass():
    """A sender's slow DNS (here 0.5 s per answer): SPF, five DKIM key look-ups and DMARC would
    take 3.5 s; with a 1 s budget the check stops, and what was left unchecked is a temperror."""
    import time

    records = {"partner.test": ["v=spf1 ip4:192.0.2.0/24 -all"], "_dmarc.partner.test": ["v=DMARC1; p=reject"]}

    def slow(name):
        time.sleep(0.5)
        return records.get(name.rstrip(".").lower(), [])

    sigs = b"".join(b"DKIM-Signature: v=1; a=rsa-sha256; d=partner.test; s=s%d; h=from; bh=AAAA; b=Ym9ndXM=\r\n" % i
                    for i in range(5))
    started = time.monotonic()
    auth = check_message(message(extra=sigs), ip=IP_OK, helo="h", mail_from="b@partner.test", resolver=slow, dns_seconds=1.0)
    assert time.monotonic() - started < 2.0
    assert auth["spf"]["result"] == "pass"
    assert "temperror" in [d["result"] for d in auth["dkim"]]
    assert auth["dmarc"]["result"] == "temperror" and auth["verified_sender"] is False


def test_signatures_over_a_flood_of_header_fields_cost_one_pass_over_them(keypair):
    """Five signatures that verify with the sender's own key, on a message of 200,000 header fields
    (what SMTP DATA runs, authenticate_inbound): dkimpy canonicalises every field it holds for
    every signature, so it is handed only the fields a signature names. Five signatures then
    cost about what one does (they cost 3-4 times as much before)."""
    import time

    private, public = keypair
    message = b"".join(b"X-Filler: %d\r\n" % i for i in range(200_000)) + b"From: a@partner.test\r\nSubject: s\r\n\r\nhi\r\n"
    signature = dkim.sign(message, b"sel1", b"partner.test", private, include_headers=[b"from", b"subject"])

    def cost(raw):
        started = time.monotonic()
        auth, _ = authenticate_inbound(raw, ip=IP_BAD, helo="h", mail_from="", authserv_id="mx.acme.test", resolver=dns(public))
        return time.monotonic() - started, [d["result"] for d in auth["dkim"]]

    one, results = cost(signature + message)
    assert results == ["pass"]
    five, results = cost(signature * 5 + message)
    assert results == ["pass"] * 5
    assert five < 2 * one, (five, one)
