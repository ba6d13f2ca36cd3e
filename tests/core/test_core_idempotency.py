"""Idempotency keys (the API reference, "Sending"): 1-256 printable characters, header vs body, fingerprints."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from multimail_server.core import idempotency as idem
from multimail_server.core.errors import BadRequest


def _refused(key) -> bool:
    try:
        idem.validate_key(key)
    except BadRequest as exc:
        assert exc.status == 400
        assert exc.code == "invalid_idempotency_key"
        assert exc.details == {"field": "idempotency_key"}
        return True
    return False


@pytest.mark.parametrize("key", [
    "a", " ", "~", "x" * 256, "retry-1", "order:42/line 7", "550e8400-e29b-41d4-a716-446655440000",
    "".join(chr(c) for c in range(0x20, 0x7F)),  # every printable ASCII character, 95 of them
    "  padded  ",
])
def test_valid_keys(key):
    assert idem.validate_key(key) == key


@pytest.mark.parametrize("key", [
    "", "x" * 257, "x" * 1000, "a\tb", "a\nb", "a\r\n", "\x00", "a\x7f", "\x1b[31m", "é", "schlüssel", "ключ", "🔑",
    "a\u2028b", "\u00a0", None, 123, b"abc", ["a"],
])
def test_invalid_keys(key):
    assert _refused(key)


def test_every_code_point_up_to_0x2100():
    # Accepted exactly when 0x20 <= c <= 0x7E, alone and inside an otherwise valid key.
    for c in range(0x2100):
        ok = 0x20 <= c <= 0x7E
        assert _refused(chr(c)) is not ok, hex(c)
        assert _refused("k-" + chr(c) + "-k") is not ok, hex(c)


def test_length_boundaries():
    for n in range(0, 300):
        assert _refused("k" * n) is not (1 <= n <= 256), n
    assert idem.MAX_KEY_LENGTH == 256


class TestResolveKey:
    def test_neither(self):
        assert idem.resolve_key(None, None) is None

    def test_header_only(self):
        assert idem.resolve_key("k1", None) == "k1"

    def test_body_only(self):
        assert idem.resolve_key(None, "k1") == "k1"

    def test_both_agree(self):
        assert idem.resolve_key("k1", "k1") == "k1"

    @pytest.mark.parametrize("header,body", [("k1", "k2"), ("k1", "K1"), ("k1", "k1 "), ("a" * 256, "a" * 255)])
    def test_both_disagree(self, header, body):
        with pytest.raises(BadRequest) as info:
            idem.resolve_key(header, body)
        assert info.value.code == "invalid_idempotency_key"
        assert info.value.status == 400

    @pytest.mark.parametrize("header,body", [("", None), (None, ""), ("ok", "é"), ("é", "ok"), ("x" * 257, None),
                                             (None, "x" * 257), ("a\nb", "a\nb")])
    def test_each_is_validated(self, header, body):
        with pytest.raises(BadRequest) as info:
            idem.resolve_key(header, body)
        assert info.value.code == "invalid_idempotency_key"


class TestFingerprint:
    BASE = {"to": ["a@x.test", "b@x.test"], "subject": "Hi", "body": "Hello", "meta": {"a": 1, "b": [1, 2]},
            "html": None, "flag": True}

    def test_is_sha256_hex(self):
        fp = idem.fingerprint(self.BASE)
        assert len(fp) == 64 and int(fp, 16) >= 0
        assert fp == idem.fingerprint(json.loads(json.dumps(self.BASE)))

    def test_key_order_does_not_matter(self):
        reordered = {"flag": True, "html": None, "meta": {"b": [1, 2], "a": 1}, "body": "Hello", "subject": "Hi",
                     "to": ["a@x.test", "b@x.test"]}
        assert list(reordered) != list(self.BASE)
        assert idem.fingerprint(reordered) == idem.fingerprint(self.BASE)

    @pytest.mark.parametrize("path,value", [
        (("to",), ["b@x.test", "a@x.test"]),  # list order is content
        (("to",), ["a@x.test"]),
        (("subject",), "Hi "),
        (("subject",), "hi"),
        (("body",), "Hello\n"),
        (("body",), "Héllo"),
        (("body",), "He\u0301llo"),  # decomposed: different bytes, different request
        (("meta", "a"), "1"),
        (("meta", "a"), 1.5),
        (("meta", "a"), True),
        (("meta", "a"), None),
        (("meta", "b"), [2, 1]),
        (("html",), ""),
        (("flag",), 1),
        (("flag",), False),
    ])
    def test_every_value_matters(self, path, value):
        changed = json.loads(json.dumps(self.BASE))
        target = changed
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value
        assert idem.fingerprint(changed) != idem.fingerprint(self.BASE)

    def test_added_or_removed_field_matters(self):
        assert idem.fingerprint({**self.BASE, "cc": []}) != idem.fingerprint(self.BASE)
        smaller = dict(self.BASE)
        del smaller["html"]
        assert idem.fingerprint(smaller) != idem.fingerprint(self.BASE)

    def test_structure_matters(self):
        assert idem.fingerprint({"a": "b"}) != idem.fingerprint({"a": ["b"]})
        assert idem.fingerprint(["a", "b"]) != idem.fingerprint(["ab"])
        assert idem.fingerprint({"a": "b", "c": "d"}) != idem.fingerprint({"a": "b,c:d"})

    def test_sets_are_order_independent(self):
        assert idem.fingerprint({"to": {"a", "b", "c"}}) == idem.fingerprint({"to": {"c", "b", "a"}})
        assert idem.fingerprint({"to": {"a", "b"}}) != idem.fingerprint({"to": {"a", "c"}})

    def test_stable_across_processes(self):
        # Two server processes sharing one database must name the same slot for the same request,
        # whatever their hash seeds (which is what orders a set).
        code = (
            "from multimail_server.core.idempotency import fingerprint; "
            "print(fingerprint({'to': {'a@x.test', 'b@x.test', 'c@x.test', 'd@x.test', 'e@x.test'}, "
            "'s': frozenset({'x', 'y', 'z'}), 'n': [1, 2.5, None, True], 'u': 'Grüße'}))"
        )
        results = set()
        for seed in ("0", "1", "2", "3", "12345"):
            out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
                                 capture_output=True, text=True, check=True)
            results.add(out.stdout.strip())
        assert len(results) == 1
        assert len(results.pop()) == 64


class TestSlots:
    def test_explicit_slot_names(self):
        assert idem.explicit_slot("send", "k1") != idem.explicit_slot("send", "k2")
        assert idem.explicit_slot("send", "k1") != idem.explicit_slot("reply", "k1")
        assert idem.explicit_slot("send", "k1") == idem.explicit_slot("send", "k1")

    def test_implicit_slot_names(self):
        content = {"to": ["a@x.test"], "subject": "s", "text": "t"}
        same = {"text": "t", "subject": "s", "to": ["a@x.test"]}
        assert idem.implicit_slot("send", "mbx_1", content) == idem.implicit_slot("send", "mbx_1", same)
        assert idem.implicit_slot("send", "mbx_1", content) != idem.implicit_slot("send", "mbx_2", content)
        assert idem.implicit_slot("send", "mbx_1", content) != idem.implicit_slot("decide", "mbx_1", content)
        assert idem.implicit_slot("send", "mbx_1", content) != idem.implicit_slot("send", "mbx_1", {**content, "text": "u"})

    def test_explicit_and_implicit_never_collide(self):
        content = {"x": 1}
        implicit = idem.implicit_slot("send", "mbx_1", content)
        # Even a client that picks its key to look like an implicit slot gets another name.
        key = implicit.split(":", 2)[2]
        assert idem.explicit_slot("send", key) != implicit
        assert idem.explicit_slot("send", implicit) != implicit

    @pytest.mark.parametrize("operation", ["send", "reply", "decide"])
    def test_slot_fits_the_store_column(self, operation):
        # store/tables.py keeps slots in a String(400) column; the longest key must fit.
        assert len(idem.explicit_slot(operation, "k" * idem.MAX_KEY_LENGTH)) <= 400
        assert len(idem.implicit_slot(operation, "mbx_" + "x" * 20, {"a": "b" * 10_000})) <= 400

    def test_ttl_is_24_hours(self):
        assert idem.EXPLICIT_KEY_TTL_SECONDS == 24 * 60 * 60
