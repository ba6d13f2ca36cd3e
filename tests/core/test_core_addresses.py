"""Addresses as header strings: RFC 5322 parsing, IDN, special-use domains, injection refused."""

from __future__ import annotations

from email.policy import default as default_policy

import pytest

from multimail_server.core.addresses import (
    MAX_RECIPIENTS,
    ParsedAddress,
    normalize_mailbox_address,
    parse_address,
    parse_address_list,
    refuse_control_chars,
)
from multimail_server.core.errors import BadRequest


def refused(value, field="to") -> BadRequest:
    with pytest.raises(BadRequest) as info:
        parse_address(value, field)
    assert info.value.status == 400
    return info.value


@pytest.mark.parametrize("value,display,spec", [
    ("ana@partner.test", "", "ana@partner.test"),
    ("  ana@partner.test  ", "", "ana@partner.test"),
    ("Ana Analyst <ana@partner.test>", "Ana Analyst", "ana@partner.test"),
    ('"Analyst, Ana" <ana@partner.test>', "Analyst, Ana", "ana@partner.test"),
    ('"Ana \\"the analyst\\"" <ana@partner.test>', 'Ana "the analyst"', "ana@partner.test"),
    ("<ana@partner.test>", "", "ana@partner.test"),
    ("=?utf-8?q?Ana?= <ana@partner.test>", "Ana", "ana@partner.test"),
    ("José Núñez <jose@example.com>", "José Núñez", "jose@example.com"),
    ("first.last+tag@sub.example.org", "", "first.last+tag@sub.example.org"),
    ("ANA@PARTNER.TEST", "", "ANA@PARTNER.TEST"),
    # Internationalised domains and local parts (RFC 6531/6532).
    ("user@bücher.de", "", "user@bücher.de"),
    ("user@xn--bcher-kva.de", "", "user@xn--bcher-kva.de"),
    ("jörg@bücher.de", "", "jörg@bücher.de"),
    ("Jörg <jörg@bücher.de>", "Jörg", "jörg@bücher.de"),
    ("用户@例子.广告", "", "用户@例子.广告"),
    ("δοκιμή@παράδειγμα.δοκιμή", "", "δοκιμή@παράδειγμα.δοκιμή"),
    # Special-use names: a self-hosted server serves them.
    ("a@acme.test", "", "a@acme.test"),
    ("a@test", "", "a@test"),
    ("root@localhost", "", "root@localhost"),
    ("a@mail.localhost", "", "a@mail.localhost"),
    ("a@printer.local", "", "a@printer.local"),
    ("a@nowhere.invalid", "", "a@nowhere.invalid"),
    ("a@www.example", "", "a@www.example"),
    ("a@bücher.test", "", "a@bücher.test"),
])
def test_accepted(value, display, spec):
    p = parse_address(value, "to")
    assert p == ParsedAddress(display_name=display, addr_spec=spec)


@pytest.mark.parametrize("value,reason", [
    ("", "empty"),
    ("   ", "blank"),
    (None, "not a string"),
    (42, "not a string"),
    (["a@x.test"], "not a string"),
    ("ana", "no @"),
    ("ana.partner.test", "no @"),
    ("@partner.test", "no local part"),
    ("ana@", "no domain"),
    ("a@b@c.test", "two @"),
    ("a..b@x.test", "consecutive dots"),
    (".a@x.test", "leading dot"),
    ("a.@x.test", "trailing dot"),
    ("a@x..test", "empty label"),
    ("a@.test", "empty label"),
    ("a@x.test.", "trailing dot in domain"),
    ("a@-x.test", "label starts with hyphen"),
    ("a@x_y.test", "underscore in domain"),
    ("a b@x.test", "space in local part"),
    ('"a b"@x.test', "quoted local part"),
    ("a@[127.0.0.1]", "domain literal"),
    ("a@x.test, b@x.test", "two addresses"),
    ("Ana <a@x.test>, Bob <b@x.test>", "two addresses"),
    ("a@x.test; b@x.test", "two addresses"),
    ("a@x.test b@x.test", "two addresses"),
    ("undisclosed-recipients:;", "empty group"),
    ("Ana <a@x.test> extra", "trailing text"),
    ("Ana <>", "empty angle"),
    ("<a@x.test", "unclosed angle"),
    ("a@x.test>", "stray angle"),
    ("a\tb@x.test", "tab"),
    ("a\x01@x.test", "control character"),
    ("a@xn--zz.com", "bad punycode"),
    ("a@xn--zz.test", "bad punycode, special-use"),
    ("a@" + "b" * 64 + ".test", "label over 63"),
])
def test_refused(value, reason):
    err = refused(value)
    assert err.code == "invalid_address", reason
    assert err.details["field"] == "to"


@pytest.mark.parametrize("domain", ["example.com", "acme.test", "localhost", "printer.local", "x.invalid", "bücher.de",
                                    "bücher.test"])
def test_length_limits_are_the_same_for_every_domain(domain):
    # RFC 5321: an address is at most 254 octets. Special-use domains used to skip that check.
    # The limit counts the domain in its ASCII (IDNA) form.
    local_max = 254 - len("@" + domain.encode("idna").decode("ascii"))
    assert parse_address("a" * local_max + "@" + domain, "to").addr_spec == "a" * local_max + "@" + domain
    err = refused("a" * (local_max + 1) + "@" + domain)
    assert err.code == "invalid_address"
    assert "too long" in err.message


def test_header_value_over_998_characters():
    err = refused("A" * 990 + " <a@x.test>")
    assert err.code == "invalid_address"


# Every character str.splitlines() breaks at, plus NUL.
BREAKS = ["\r", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\x00"]


@pytest.mark.parametrize("brk", BREAKS, ids=repr)
@pytest.mark.parametrize("template", [
    "{}a@x.test", "a@x.test{}", "a{}@x.test", "a@x{}.test", "Ana{} <a@x.test>", "Ana <a@x.test>{}Bcc: evil@x.test",
    "a@x.test{}Bcc: evil@x.test", '"Ana{}" <a@x.test>',
])
def test_header_injection_refused_anywhere(brk, template):
    err = refused(template.format(brk))
    assert err.code == "header_injection"
    assert err.details == {"field": "to"}


def test_refuse_control_chars_is_exactly_what_the_email_package_refuses():
    # The refusal set is the line breaks of str.splitlines() plus NUL; everything else is let
    # through, and everything let through can be set as a header by the stdlib (so a subject that
    # passes validation never fails later, when the message is composed).
    for c in range(0x3000):
        ch = chr(c)
        value = "Subject a" + ch + "b"
        is_break = len(value.splitlines()) > 1 or ch == "\x00"
        try:
            refuse_control_chars(value, "subject")
        except BadRequest as exc:
            assert is_break, hex(c)
            assert exc.code == "header_injection" and exc.details == {"field": "subject"}
        else:
            assert not is_break, hex(c)
            default_policy.header_store_parse("Subject", value)  # must not raise


def test_refuse_control_chars_accepts_ordinary_text():
    for ok in ["", "Hello", "Grüße aus Köln", "tab\tseparated", "emoji 📬", "a" * 10_000]:
        refuse_control_chars(ok, "subject")


class TestParsedAddress:
    def test_normalized_lowercases(self):
        assert parse_address("Ana <Ana.Analyst@Partner.TEST>", "to").normalized == "ana.analyst@partner.test"
        assert parse_address("JÖRG@BÜCHER.DE", "to").normalized == "jörg@bücher.de"

    def test_normalized_splits_at_the_last_at(self):
        assert ParsedAddress("", "a@b@c.test").normalized == "a@b@c.test"

    @pytest.mark.parametrize("value", [
        "ana@partner.test", "Ana Analyst <ana@partner.test>", '"Analyst, Ana" <ana@partner.test>',
        "Jörg <jörg@bücher.de>", '"Ana <a@x.test>" <b@x.test>',
    ])
    def test_formatted_round_trips(self, value):
        p = parse_address(value, "to")
        again = parse_address(p.formatted(), "to")
        assert again == p

    def test_formatted(self):
        assert ParsedAddress("", "a@x.test").formatted() == "a@x.test"
        assert ParsedAddress("Ana", "a@x.test").formatted() == "Ana <a@x.test>"
        assert ParsedAddress("Analyst, Ana", "a@x.test").formatted() == '"Analyst, Ana" <a@x.test>'
        # A display name with a non-ASCII local part (RFC 6532) used to raise from the stdlib.
        assert ParsedAddress("Jörg", "jörg@bücher.de").formatted() == "Jörg <jörg@bücher.de>"


class TestParseAddressList:
    def test_string_is_one_address(self):
        assert parse_address_list("Ana <a@x.test>", "to", required=True) == [ParsedAddress("Ana", "a@x.test")]

    def test_list(self):
        got = parse_address_list(["a@x.test", "Bob <b@x.test>"], "cc", required=False)
        assert [p.addr_spec for p in got] == ["a@x.test", "b@x.test"]
        assert parse_address_list(("a@x.test",), "cc", required=False)[0].addr_spec == "a@x.test"

    def test_string_with_two_addresses_is_refused(self):
        with pytest.raises(BadRequest) as info:
            parse_address_list("a@x.test, b@x.test", "to", required=True)
        assert info.value.code == "invalid_address"
        assert info.value.details["field"] == "to"

    def test_bad_item_is_named_by_index(self):
        with pytest.raises(BadRequest) as info:
            parse_address_list(["a@x.test", "nope"], "cc", required=False)
        assert info.value.details["field"] == "cc[1]"
        with pytest.raises(BadRequest) as info:
            parse_address_list(["a@x.test", "b@x.test\r\nBcc: e@x.test"], "bcc", required=False)
        assert info.value.code == "header_injection"
        assert info.value.details["field"] == "bcc[1]"

    @pytest.mark.parametrize("empty", [None, []])
    def test_required(self, empty):
        with pytest.raises(BadRequest) as info:
            parse_address_list(empty, "to", required=True)
        assert info.value.code == "missing_field"
        assert info.value.details == {"field": "to"}
        assert parse_address_list(empty, "cc", required=False) == []

    def test_empty_string_is_not_missing_but_invalid(self):
        with pytest.raises(BadRequest) as info:
            parse_address_list("", "to", required=True)
        assert info.value.code == "invalid_address"

    def test_recipient_limit(self):
        exactly = [f"r{i}@x.test" for i in range(MAX_RECIPIENTS)]
        assert len(parse_address_list(exactly, "to", required=True)) == MAX_RECIPIENTS
        with pytest.raises(BadRequest) as info:
            parse_address_list(exactly + ["one-more@x.test"], "to", required=True)
        assert info.value.code == "too_many_recipients"
        assert info.value.details == {"field": "to"}
        assert MAX_RECIPIENTS == 100

    @pytest.mark.parametrize("value", [42, 4.2, True, {"a@x.test": "Ana"}, b"a@x.test"])
    def test_wrong_type_is_a_400_not_a_crash(self, value):
        with pytest.raises(BadRequest) as info:
            parse_address_list(value, "to", required=True)
        assert info.value.code == "invalid_address"

    @pytest.mark.parametrize("item", [None, 42, ["a@x.test"]])
    def test_wrong_item_type(self, item):
        with pytest.raises(BadRequest) as info:
            parse_address_list(["a@x.test", item], "to", required=True)
        assert info.value.code == "invalid_address"
        assert info.value.details["field"] == "to[1]"


class TestNormalizeMailboxAddress:
    @pytest.mark.parametrize("value,expected", [
        ("ana@acme.test", "ana@acme.test"),
        ("Ana@ACME.Test", "ana@acme.test"),
        ("  ana@acme.test ", "ana@acme.test"),
        ("jörg@BÜCHER.de", "jörg@bücher.de"),
        ("ops@localhost", "ops@localhost"),
    ])
    def test_bare_addresses(self, value, expected):
        assert normalize_mailbox_address(value) == expected

    @pytest.mark.parametrize("value", [
        "Ana <ana@acme.test>", '"Ana" <ana@acme.test>', "<ana@acme.test>", "ana@acme.test (Ana)",
        "team: ana@acme.test;", '"ana"@acme.test',
    ])
    def test_anything_around_the_address_is_refused(self, value):
        with pytest.raises(BadRequest) as info:
            normalize_mailbox_address(value)
        assert info.value.code == "invalid_address"
        assert info.value.details["field"] == "address"

    @pytest.mark.parametrize("value,code", [
        ("", "invalid_address"), ("ana", "invalid_address"), ("a@x.test, b@x.test", "invalid_address"),
        ("ana@acme.test\r\n", "header_injection"), ("ana@acme.test\u2028", "header_injection"),
    ])
    def test_invalid(self, value, code):
        with pytest.raises(BadRequest) as info:
            normalize_mailbox_address(value)
        assert info.value.code == code
