"""DMARC alignment with real organisational domains (the Public Suffix List), over real SMTP to a
real `multimail serve` whose DNS answers come from MULTIMAIL_DNS_OVERRIDES.

Two names under one public suffix (`com.vn`, or a private-registry suffix like `github.io`) belong
to different organisations: SPF passing for one must not make the other's From header verified.
"""

from __future__ import annotations

import json

import pytest

from multimail_server.mail.dmarc import aligned, organizational_domain
from tests.conftest import Api, ServerProcess
from tests.mail.test_smtp_security import new_mailbox, only_message, raw_message, send_raw

LOOPBACK_SPF = ["v=spf1 ip4:127.0.0.1 -all"]
REJECT = ["v=DMARC1; p=reject"]
DNS = {
    "evil.com.vn": LOOPBACK_SPF,
    "_dmarc.victim.com.vn": REJECT,
    "a.github.io": LOOPBACK_SPF,
    "_dmarc.b.github.io": REJECT,
    "corp.com.vn": LOOPBACK_SPF,
    "_dmarc.corp.com.vn": REJECT,  # only at the organisational domain: mail.corp.com.vn inherits it
    "xn--bcher-kva.test": LOOPBACK_SPF,
    "_dmarc.xn--bcher-kva.test": REJECT,
    "partner.test": LOOPBACK_SPF,
    "_dmarc.partner.test": REJECT,
}


@pytest.fixture(scope="module")
def psl_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("psl-server")
    (tmp / "dns.json").write_text(json.dumps(DNS))
    srv = ServerProcess(tmp, env={"MULTIMAIL_DNS_OVERRIDES": str(tmp / "dns.json")})
    yield srv
    srv.stop()


def received_auth(srv: ServerProcess, envelope_from: str, header_from: str) -> dict:
    api = Api(srv.base, srv.admin_key)
    box = new_mailbox(api)
    send_raw(srv.smtp_port, envelope_from, box, raw_message(box, header_from, "org domain check"))
    return only_message(api, box)["authentication"]


@pytest.mark.parametrize("envelope_from,header_from", [
    ("bounce@evil.com.vn", "Boss <boss@victim.com.vn>"),   # one ICANN suffix, two organisations
    ("bounce@a.github.io", "Boss <boss@b.github.io>"),     # a private-registry suffix
    ("bounce@evil.com.vn", "Boss <boss@VICTIM.COM.VN.>"),  # case and a trailing dot change nothing
])
def test_spf_for_a_neighbour_under_a_public_suffix_does_not_verify_the_from_domain(psl_server, envelope_from, header_from):
    auth = received_auth(psl_server, envelope_from, header_from)
    assert auth["spf"]["result"] == "pass"
    assert auth["dmarc"]["result"] == "fail" and auth["dmarc"]["policy"] == "reject"
    assert auth["dmarc"]["spf_aligned"] is False
    assert auth["verified_sender"] is False


@pytest.mark.parametrize("envelope_from,header_from,from_domain,record_domain", [
    # the DMARC record is looked up at the real organisational domain, not at "com.vn"
    ("bounce@corp.com.vn", "news@mail.corp.com.vn", "mail.corp.com.vn", "corp.com.vn"),
    # an internationalised, upper-case From domain with a trailing dot is the A-label SPF passed for
    ("bounce@xn--bcher-kva.test", "Boss <boss@BÜCHER.test.>", "xn--bcher-kva.test", "xn--bcher-kva.test"),
    ("bounce@partner.test", "Ana <ana@Mail.PARTNER.test.>", "mail.partner.test", "partner.test"),
])
def test_the_same_organisation_aligns_in_any_spelling(psl_server, envelope_from, header_from, from_domain, record_domain):
    auth = received_auth(psl_server, envelope_from, header_from)
    assert auth["from_domain"] == from_domain
    assert auth["dmarc"]["result"] == "pass" and auth["dmarc"]["record_domain"] == record_domain
    assert auth["verified_sender"] is True


def test_organizational_domains_follow_the_public_suffix_list():
    assert organizational_domain("x.evil.com.vn") == "evil.com.vn"
    assert organizational_domain("a.github.io") == "a.github.io"
    assert organizational_domain("github.io") == "github.io"  # a public suffix is its own, aligned with nothing
    assert organizational_domain("Mail.Bücher.Example.") == "xn--bcher-kva.example"
    assert not aligned("evil.com.vn", "victim.com.vn", "r") and not aligned("com.vn", "evil.com.vn", "r")
    assert aligned("mail.corp.com.vn", "CORP.com.vn.", "r") and not aligned("mail.corp.com.vn", "corp.com.vn", "s")
