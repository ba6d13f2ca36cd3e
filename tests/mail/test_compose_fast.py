"""The composer's fast path for plain messages writes exactly the bytes the email package does:
compared byte for byte over generated messages (addresses, subjects, bodies of every transfer
encoding the package picks: 7bit, 8bit, quoted-printable, base64), and anything it does not
cover is left to the package."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from multimail_server.mail import compose

WORDS = ["the", "quarterly", "numbers,", "as", "promised.", "Résumé", "naïve", "日本語", "x" * 90, "a=b", "=?utf-8?q?x?=",
         "From", ">quoted", "tab\there", "", "  two  spaces", "end.\r\n", "line\nbreak", "\r", "ok!", "#1", "'q'", '"dq"']
ADDRESSES = ["ana@partner.test", "bob.smith@mail.partner.test", "o'brien+tag@x-y.test", "a@b.c", "zoë@partner.test",
             "Ana <ana@partner.test>", '"odd name"@partner.test', "ana@partner.test.", "x" * 70 + "@partner.test", "a..b@partner.test"]


def fields(rng: random.Random) -> dict:
    def text(n: int) -> str:
        return rng.choice([" ", "\n", "\r\n", ""]).join(rng.choice(WORDS) for _ in range(n))

    def line(n: int) -> str:  # a header value: never a line break (the API refuses those)
        return " ".join(rng.choice(WORDS) for _ in range(n)).replace("\r", "").replace("\n", "")

    def pick(plain: list, odd: list):  # mostly what the fast path takes, sometimes what it leaves
        return rng.choice(plain) if rng.random() < 0.85 else rng.choice(odd)

    def addresses(k: int) -> list[str]:
        return [pick(ADDRESSES[:4], ADDRESSES[4:]) for _ in range(k)]

    return dict(
        from_addr=pick(ADDRESSES[:4], ADDRESSES[4:]), to=addresses(rng.randint(1, 3)), cc=addresses(rng.randint(0, 2)),
        reply_to=addresses(rng.randint(0, 1)),
        subject=rng.choice(["report 1", "Re: the numbers", line(rng.randint(0, 12)), "x" * rng.randint(50, 80), " lead", "trail "]),
        text=text(rng.randint(0, 200)), html=None,
        message_id=pick(["<abc.123@acme.test>", "<a@b>", f"<{'m' * 50}@acme.test>"], ["<x y@acme.test>", "abc@acme.test", f"<{'m' * 70}@acme.test>"]),
        date=datetime(2026, 12, 1, 9, 5, 7, tzinfo=rng.choice([UTC, timezone(timedelta(hours=2))])),
        in_reply_to=None, references=[], attachments=[],
        extra_headers={"X-MultiMail-Message-Id": pick(["msg_01HXYZ"], ["msg " * 30, "é"])},
    )


def test_the_fast_path_writes_the_email_packages_bytes():
    rng = random.Random(14)
    fast = 0
    for _ in range(3000):
        f = fields(rng)
        plain = compose._plain_message(f["from_addr"], f["to"], f["cc"], f["reply_to"], f["subject"], f["text"],
                                       f["message_id"], f["date"], f["extra_headers"])
        expected = compose._email_package_message(**f)
        assert compose.build_message(**f) == expected
        if plain is not None:
            fast += 1
            assert plain == expected, f
    assert 300 < fast < 2700, fast  # both paths were taken, many times


def test_what_the_fast_path_leaves_to_the_email_package(monkeypatch):
    base = fields(random.Random(1)) | {"from_addr": "agent@acme.test", "to": ["ana@partner.test"], "cc": [], "reply_to": [],
                                       "subject": "hi", "message_id": "<a@b>", "extra_headers": {"X-MultiMail-Message-Id": "m1"}}
    assert compose._plain_message(base["from_addr"], base["to"], [], [], "hi", "body", "<a@b>", base["date"], {}) is not None

    def not_here(*a, **kw):
        raise AssertionError("the fast path was asked")

    monkeypatch.setattr(compose, "_plain_message", not_here)
    for change in ({"html": "<p>x</p>"}, {"in_reply_to": "<p@q>"}, {"references": ["<p@q>"]},
                   {"attachments": [{"content": b"x", "content_type": "text/plain", "filename": "a.txt"}]}):
        assert b"MIME-Version: 1.0" in compose.build_message(**(base | change))
