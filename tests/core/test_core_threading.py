"""Threading: reply subjects without stacked prefixes, References chains, Message-ID parsing."""

from __future__ import annotations

import pytest

from multimail_server.core.threading import MAX_REFERENCES, parse_message_ids, reply_references, reply_subject, strip_prefixes


@pytest.mark.parametrize("subject,expected", [
    ("Quarterly numbers", "Re: Quarterly numbers"),
    ("Re: Quarterly numbers", "Re: Quarterly numbers"),
    ("RE: Quarterly numbers", "Re: Quarterly numbers"),
    ("re:Quarterly numbers", "Re: Quarterly numbers"),
    ("Re : Quarterly numbers", "Re: Quarterly numbers"),
    ("Re: Re: Re: Quarterly numbers", "Re: Quarterly numbers"),
    ("Re:Re:RE: Quarterly numbers", "Re: Quarterly numbers"),
    ("Fwd: Quarterly numbers", "Re: Quarterly numbers"),
    ("FWD: Quarterly numbers", "Re: Quarterly numbers"),
    ("Fw: Quarterly numbers", "Re: Quarterly numbers"),
    ("Re: Fwd: Re: Quarterly numbers", "Re: Quarterly numbers"),
    ("AW: Quarterly numbers", "Re: Quarterly numbers"),  # German
    ("WG: Quarterly numbers", "Re: Quarterly numbers"),  # German forward
    ("SV: Quarterly numbers", "Re: Quarterly numbers"),  # Scandinavian
    ("VS: Quarterly numbers", "Re: Quarterly numbers"),  # Finnish forward
    ("Antw: Quarterly numbers", "Re: Quarterly numbers"),  # Dutch
    ("TR: Quarterly numbers", "Re: Quarterly numbers"),  # French forward
    ("RIF: Quarterly numbers", "Re: Quarterly numbers"),  # Italian
    ("R: Quarterly numbers", "Re: Quarterly numbers"),  # Italian
    ("Re[2]: Quarterly numbers", "Re: Quarterly numbers"),
    ("Re[12] : Quarterly numbers", "Re: Quarterly numbers"),
    ("Re: Re[3]: AW: Quarterly numbers", "Re: Quarterly numbers"),
    ("  Quarterly numbers  ", "Re: Quarterly numbers"),
    ("Aw: Ärger im Büro", "Re: Ärger im Büro"),
    # Words that merely start like a prefix stay.
    ("Reply needed", "Re: Reply needed"),
    ("Re-run results", "Re: Re-run results"),
    ("Regarding the invoice", "Re: Regarding the invoice"),
    ("Research: results", "Re: Research: results"),
    ("Forward planning", "Re: Forward planning"),
    ("Area: 51", "Re: Area: 51"),
    ("Re: [ext] Quarterly numbers", "Re: [ext] Quarterly numbers"),
    ("Quarterly numbers Re: follow-up", "Re: Quarterly numbers Re: follow-up"),
    # Empty subjects.
    ("", "Re:"),
    (None, "Re:"),
    ("Re:", "Re:"),
    ("Re: Re:  ", "Re:"),
    ("   ", "Re:"),
])
def test_reply_subject(subject, expected):
    assert reply_subject(subject) == expected


@pytest.mark.parametrize("subject", ["Hello", "Re: Hello", "Fwd: Re: Hello", "AW: SV: Hello", "", "Re[4]: x", "Réponse"])
def test_reply_subject_is_idempotent(subject):
    once = reply_subject(subject)
    assert reply_subject(once) == once
    assert reply_subject(reply_subject(once)) == once
    assert once.count("Re:") == 1


def test_strip_prefixes():
    assert strip_prefixes("Re: Fwd: Hello") == "Hello"
    assert strip_prefixes("Hello") == "Hello"
    assert strip_prefixes(None) == ""


class TestReplyReferences:
    def test_first_reply(self):
        assert reply_references([], "<a@x.test>") == ["<a@x.test>"]

    def test_appends_parent(self):
        assert reply_references(["<1@x>", "<2@x>"], "<3@x>") == ["<1@x>", "<2@x>", "<3@x>"]

    def test_drops_empty_entries(self):
        assert reply_references(["<1@x>", "", "<2@x>"], "<3@x>") == ["<1@x>", "<2@x>", "<3@x>"]

    def test_does_not_mutate_input(self):
        refs = ["<1@x>"]
        reply_references(refs, "<2@x>")
        assert refs == ["<1@x>"]

    def test_at_the_limit_nothing_is_trimmed(self):
        refs = [f"<{i}@x>" for i in range(MAX_REFERENCES - 1)]
        assert reply_references(refs, "<p@x>") == refs + ["<p@x>"]
        assert MAX_REFERENCES == 50

    @pytest.mark.parametrize("n", [MAX_REFERENCES, MAX_REFERENCES + 1, 200])
    def test_trimmed_from_the_middle(self, n):
        refs = [f"<{i}@x>" for i in range(n)]
        got = reply_references(refs, "<p@x>")
        assert len(got) == MAX_REFERENCES
        assert got[0] == "<0@x>"  # the thread's root stays
        assert got[-1] == "<p@x>"  # the parent is last
        assert got[-2] == f"<{n - 1}@x>"  # the newest stay
        assert got[1:] == (refs + ["<p@x>"])[-(MAX_REFERENCES - 1):]
        assert len(set(got)) == len(got)


@pytest.mark.parametrize("value,expected", [
    (None, []),
    ("", []),
    ("garbage", []),
    ("<a@x.test>", ["<a@x.test>"]),
    ("<a@x.test> <b@y.test>", ["<a@x.test>", "<b@y.test>"]),
    ("<a@x.test>\r\n\t<b@y.test>\r\n <c@z.test>", ["<a@x.test>", "<b@y.test>", "<c@z.test>"]),
    ("<a@x.test>,<b@y.test>", ["<a@x.test>", "<b@y.test>"]),
    ("(comment) <a@x.test>", ["<a@x.test>"]),
    ("<a b@x.test>", []),
    ("<<a@x.test>>", ["<a@x.test>"]),
    ("<CAF=abc+def@mail.gmail.com>", ["<CAF=abc+def@mail.gmail.com>"]),
])
def test_parse_message_ids(value, expected):
    assert parse_message_ids(value) == expected
