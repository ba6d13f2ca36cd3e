"""DKIM signatures cost a bounded amount of work on SMTP DATA: hundreds of bogus DKIM-Signature
headers on a large message are not each a parse of the whole message, and a valid signature whose
d= aligns with From is still found among them (RFC 6376 section 6.1 lets a verifier stop early)."""

from __future__ import annotations

import smtplib
import time

import dkim

from multimail_server.mail.dkim import MAX_SIGNATURES
from tests.conftest import Api
from tests.mail.test_smtp_security import dkim_key, dns_server, new_mailbox, only_message  # noqa: F401 (fixtures)

BOGUS = 200


def bogus_signatures(count: int = BOGUS, domain: str = "evil{i}.test") -> bytes:
    """Well-formed DKIM-Signature headers that verify against nothing (no key is published)."""
    return b"".join(
        (f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain.format(i=i)}; s=s{i};\r\n"
         f"\th=from:to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=Ym9ndXM{i % 10}\r\n").encode()
        for i in range(count)
    )


def deliver(port: int, sender: str, rcpt: str, raw: bytes) -> float:
    """Send over real SMTP; the seconds from the start of DATA to the 250 (the check runs in DATA)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        s.ehlo("client.partner.test")
        assert s.mail(sender)[0] == 250 and s.rcpt(rcpt)[0] == 250
        started = time.monotonic()
        code, _ = s.data(raw)
        assert code == 250
        return time.monotonic() - started


def large_message(box: str, subject: str) -> bytes:
    body = (b"Quarterly numbers, line after line of them. " * 22 + b"\r\n") * 3000  # ~3 MB
    return (f"From: ana@partner.test\r\nTo: {box}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}-{box}>\r\n\r\n").encode() + body


def test_many_bogus_signatures_on_a_large_message_are_cheap_over_smtp(server, admin):
    plain = new_mailbox(admin)
    baseline = deliver(server.smtp_port, "ana@partner.test", plain, large_message(plain, "no signature"))
    box = new_mailbox(admin)
    raw = bogus_signatures() + large_message(box, "many signatures")
    assert len(raw) > 2_900_000
    elapsed = deliver(server.smtp_port, "ana@partner.test", box, raw)
    # DATA took 8-20 s when every signature re-parsed the message; now the whole DATA (check,
    # storage) is well under 2 s (or, on a loaded machine, close to the same message without them).
    assert elapsed < max(2.0, 3 * baseline), (elapsed, baseline)
    auth = only_message(admin, box)["authentication"]
    assert len(auth["dkim"]) == MAX_SIGNATURES and auth["dkim_signatures_not_checked"] == BOGUS - MAX_SIGNATURES
    assert all(d["result"] == "permerror" for d in auth["dkim"])
    assert auth["spf"]["result"] == "pass" and auth["verified_sender"] is True  # SPF still decides correctly


def test_a_valid_aligned_signature_behind_many_bogus_ones_is_still_checked(dns_server, dkim_key):
    private, _ = dkim_key
    api = Api(dns_server.base, dns_server.admin_key)
    box = new_mailbox(api)
    message = (f"From: Ana <ana@partner.test>\r\nTo: {box}\r\nSubject: signed among bogus\r\n"
               f"Message-ID: <signed-among-bogus-{box}>\r\n\r\n").encode() + b"Numbers attached.\r\n" * 2000
    signature = dkim.sign(message, b"sel1", b"partner.test", private, include_headers=[b"from", b"to", b"subject", b"message-id"])
    # The bogus ones come first in the header; the one that verifies is the 201st.
    raw = bogus_signatures() + signature + message
    elapsed = deliver(dns_server.smtp_port, "someone@elsewhere.test", box, raw)  # SPF cannot help: DKIM must
    assert elapsed < 2.0, elapsed
    auth = only_message(api, box)["authentication"]
    assert auth["dkim"][0] == {"result": "pass", "domain": "partner.test", "selector": "sel1"}
    assert len(auth["dkim"]) == MAX_SIGNATURES
    assert auth["dmarc"]["result"] == "pass" and auth["dmarc"]["dkim_aligned"] is True and auth["verified_sender"] is True


def test_bogus_signatures_claiming_the_from_domain_cannot_hide_a_valid_one_forever(dns_server, dkim_key):
    """Signatures whose d= aligns are checked first, in header order; the cap then applies. A
    valid signature among the first few aligned ones is found; bogus aligned ones only fail."""
    private, _ = dkim_key
    api = Api(dns_server.base, dns_server.admin_key)
    box = new_mailbox(api)
    message = (f"From: ana@partner.test\r\nTo: {box}\r\nSubject: aligned bogus\r\n"
               f"Message-ID: <aligned-bogus-{box}>\r\n\r\nhello\r\n").encode()
    signature = dkim.sign(message, b"sel1", b"partner.test", private, include_headers=[b"from", b"to", b"subject"])
    raw = bogus_signatures(3, domain="partner.test") + signature + bogus_signatures(BOGUS, domain="partner.test") + message
    deliver(dns_server.smtp_port, "someone@elsewhere.test", box, raw)
    auth = only_message(api, box)["authentication"]
    assert [d["result"] for d in auth["dkim"]].count("pass") == 1 and auth["verified_sender"] is True



def test_unsigned_mail_is_checked_on_its_headers_alone():
    """load_for_checks skips the body of a message no header names a DKIM signature in (only a
    body hash reads it): the headers dkimpy holds, and what it raises, are the same as for the
    whole message, whatever the line endings; a signed message keeps its body."""
    from multimail_server.mail.dkim import load_for_checks

    def outcome(load, raw):
        try:
            checker = load(raw)
        except dkim.MessageFormatError:
            return "MessageFormatError"
        return checker.headers

    cases = [b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore", b"A: 1\nB:\n  folded\n\nbody", b"A: 1\r\n", b"\r\nbody", b"",
             b"A: 1\r\n\r\r\nB: x\r\n\r\nbody", b"From x\r\nA: 1\r\n\r\nb", b"A: 1\r\n\nB: 2\r\n", b"A:1\r\nbad line\r\n\r\nx",
             b"A: 1\r\n\r\nbad line\r\n"]
    for raw in cases:
        assert outcome(load_for_checks, raw) == outcome(dkim.DKIM, raw), raw
    signed = b"From: a@b.test\r\nDKIM-Signature: v=1; d=b.test\r\n\r\nthe body\r\n"
    assert load_for_checks(signed).body == dkim.DKIM(signed).body == b"the body\r\n"
    assert load_for_checks(b"From: a@b.test\r\n\r\n" + b"x" * 100_000).body == b""


def test_the_header_block_is_what_the_parser_reads_as_headers():
    """smtp/server.py looks for an identity claim's header in header_block before parsing the
    whole message: every header the parser finds is in it, and no body line is."""
    from multimail_server.mail.dkim import header_block, parse

    cases = [b"A: 1\r\nX-MultiMail-Identity: c\r\n\r\nX-Body: no\r\n", b"A: 1\nB:\n  folded\n\nbody", b"A: 1\r\n", b"\r\nA: body"]
    for raw in cases:
        block = header_block(raw)
        headers, body = parse(raw)
        assert all(bytes(name) + b":" in block for name, _ in headers), raw
        assert b"body" not in block.lower() and b"X-Body" not in block, raw
