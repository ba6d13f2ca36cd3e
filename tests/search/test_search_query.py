"""The query language (core/search_query): what each operator means, every error with its
position and what was expected, and a fuzz run: any text either parses or is an InvalidQuery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multimail_server.core.search_query import (
    MAX_DEPTH,
    MAX_QUERY_LENGTH,
    MAX_TERMS,
    And,
    Flag,
    InvalidQuery,
    Not,
    Or,
    Tag,
    Text,
    When,
    parse,
    tokens_of,
)


def T(*tokens: str, field: str | None = None, prefix: bool = False) -> Text:
    return Text(tuple(tokens), field, prefix)


@pytest.mark.parametrize("query, tree", [
    ("invoice", T("invoice")),
    ("Invoice PAID", And((T("invoice"), T("paid")))),
    ('"big deal"', T("big", "deal")),
    ("e-mail", T("e", "mail")),
    ("10:30", T("10", "30")),  # not an operator: a name of letters is
    ("quart*", T("quart", prefix=True)),
    ('"quart*"', T("quart")),  # quoted: literal
    ("from:alice@example.com", T("alice", "example", "com", field="from")),
    ("FROM:alice", T("alice", field="from")),
    ("to:bo", T("bo", field="to")),
    ('subject:"re: hello"', T("re", "hello", field="subject")),
    ("body:zeppelin*", T("zeppelin", field="body", prefix=True)),
    ("tag:urgent", Tag("urgent")),
    ("tag:status:done", Tag("status", "done")),
    ("tag:status:", Tag("status", "")),
    ("is:unread", Flag("unread")),
    ("is:READ", Flag("read")),
    ("has:attachment", Flag("attachment")),
    ("has:attachments", Flag("attachment")),
    ("before:2026-03-15", When("before", datetime(2026, 3, 15, tzinfo=UTC))),
    ("after:2026-03-15T14:30:00Z", When("after", datetime(2026, 3, 15, 14, 30, tzinfo=UTC))),
    ("after:2026-03-15T14:30:00+02:00", When("after", datetime(2026, 3, 15, 12, 30, tzinfo=UTC))),
    ("after:2026-03-15T14:30", When("after", datetime(2026, 3, 15, 14, 30, tzinfo=UTC))),
    ("-spam", Not(T("spam"))),
    ("--spam", Not(Not(T("spam")))),
    ('-"big deal"', Not(T("big", "deal"))),
    ("-tag:done", Not(Tag("done"))),
    ("a OR b", Or((T("a"), T("b")))),
    ("a OR b c", And((Or((T("a"), T("b"))), T("c")))),  # OR binds tighter, as in Gmail
    ("a AND b", And((T("a"), T("b")))),
    ("a or b", And((T("a"), T("or"), T("b")))),  # only upper-case OR is the operator
    ("-(a OR b) c", And((Not(Or((T("a"), T("b")))), T("c")))),
    ("(a b) OR c", Or((And((T("a"), T("b"))), T("c")))),
    ("café 日本", And((T("café"), T("日本")))),
    ("", None),
    ("   \t ", None),
    (None, None),
])
def test_each_operator_parses_to_its_meaning(query, tree):
    assert parse(query) == tree


def test_dates_with_a_zone_compare_in_utc():
    [w] = [parse("before:2026-01-01T00:30:00-01:00")]
    assert isinstance(w, When) and w.at == datetime(2026, 1, 1, 1, 30, tzinfo=UTC)
    assert w.at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("query, position, expected", [
    ('"unclosed', 0, 'a closing "'),
    ('ok subject:"unclosed', 11, 'a closing "'),
    ("colour:red", 0, "one of subject:, from:, to:, body:, tag:, is:, has:, before:, after:"),
    ("a re: b", 2, "one of subject:, from:, to:, body:, tag:, is:, has:, before:, after:"),
    ("from:", 5, "a value after from:"),
    ("from: alice", 5, "a value after from:"),
    ("tag:", 4, "a value after tag:"),
    ("tag::x", 4, "a tag key"),
    ("is:starred", 3, "is:unread or is:read"),
    ("has:link", 4, "has:attachment"),
    ("before:2026-13-01", 7, "a date YYYY-MM-DD or an ISO 8601 time"),
    ("after:yesterday", 6, "a date YYYY-MM-DD or an ISO 8601 time"),
    ("after:2026-02-30", 6, "a date YYYY-MM-DD or an ISO 8601 time"),
    ("after:2026-02-03T25:00", 6, "a date YYYY-MM-DD or an ISO 8601 time"),
    ("- a", 0, "a term right after '-'"),
    ("a -", 2, "a term right after '-'"),
    ("(a -)", 3, "a term right after '-'"),
    ("OR a", 0, "a term before OR"),
    ("a OR", 4, "a term after OR"),
    ("a OR OR b", 5, "a term after OR"),
    ("(a OR) b", 5, "a term after OR"),
    ("AND a", 0, "a term before AND"),
    ("a AND", 5, "a term after AND"),
    ("(a", 2, "a closing ')'"),
    ("(a b", 4, "a closing ')'"),
    ("a)", 1, "a term, or the end of the query"),
    ("()", 1, "a term inside '( )'"),
    ("!!!", 0, "letters or digits"),
    ('""', 0, "letters or digits"),
    ("from:@", 5, "letters or digits"),
    ("foo-*", 4, "a word before '*'"),
    ("*", 0, "letters or digits"),
    ("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1), MAX_DEPTH, "fewer nested '('"),
    (" ".join(["w"] * (MAX_TERMS + 1)), 2 * MAX_TERMS, "fewer terms"),
    ("x" * (MAX_QUERY_LENGTH + 1), MAX_QUERY_LENGTH, "a shorter query"),
    ("a\x00b", 1, "printable text"),
    (" ".join(["a"] * 33).join('""'), 0, "a shorter phrase"),
])
def test_every_error_says_where_and_what_was_expected(query, position, expected):
    with pytest.raises(InvalidQuery) as err:
        parse(query)
    assert err.value.status == 400 and err.value.code == "invalid_query"
    assert err.value.details == {"field": "query", "position": position, "expected": expected}
    assert err.value.message


def test_errors_name_the_parameter_they_were_given_in():
    with pytest.raises(InvalidQuery) as err:
        parse("(", field="q")
    assert err.value.details["field"] == "q"
    with pytest.raises(InvalidQuery):
        parse(42)  # type: ignore[arg-type]


def test_the_tokenizer_splits_at_everything_but_letters_and_digits():
    assert tokens_of("Alice.O'Neil+tag@Example.COM") == ["alice", "o", "neil", "tag", "example", "com"]
    assert tokens_of("snake_case über—dash") == ["snake", "case", "über", "dash"]


def _leaves(node):
    if isinstance(node, (And, Or)):
        for n in node.terms:
            yield from _leaves(n)
    elif isinstance(node, Not):
        yield from _leaves(node.term)
    else:
        yield node


_PIECES = st.sampled_from(['"', "(", ")", "-", " ", ":", "*", "OR", "AND", "from:", "to:", "subject:", "tag:", "is:",
                           "has:", "before:", "after:", "body:", "unread", "attachment", "2026-01-02", "a", "Ω", "\t",
                           "x:", "'", "\\", "%", "_", "T12:00Z"])


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(_PIECES, max_size=25).map("".join)))
def test_any_text_parses_or_is_an_invalid_query(query):
    try:
        tree = parse(query)
    except InvalidQuery as err:
        assert 0 <= err.details["position"] <= len(query)
        assert err.details["expected"] and err.message
        return
    for leaf in _leaves(tree) if tree is not None else []:
        if isinstance(leaf, Text):  # what reaches the index is only letters and digits
            assert leaf.tokens and all(tok.isalnum() or tok == tok.lower() and tokens_of(tok) == [tok] for tok in leaf.tokens)
