"""The search query language (check_inbox `query`, the hosted list's `q`, the dashboard's box).

Pure: text in, a tree out, or an `InvalidQuery` naming where the text went wrong and what was
expected there. The store (store/search.py) turns the tree into SQL for SQLite FTS5 or
PostgreSQL full-text search; nothing here knows either.

The operators are the ones people know from Gmail and Mailpit:

    words "a phrase"        anywhere in subject, sender, recipients (to and cc) or body
    word*                   words starting with `word`
    from: to: subject: body:  in that field only (to: covers cc)
    tag:key  tag:key:value  a tag (with that value)
    is:unread is:read       read state
    has:attachment          carries at least one attachment
    before:D after:D        D is YYYY-MM-DD or an ISO 8601 time (UTC unless it says);
                            after: includes D, before: excludes it
    -term                   negation of any term or group
    a OR b, ( ... )         either; groups. Terms side by side must all match (AND).

Words are matched as whole tokens: text is split at every character that is not a letter or
a digit and compared case-insensitively, so `from:alice@example.com` is the phrase
"alice example com" within the sender. Anything that is not an operator must be quoted to
search for it literally: `"re: hello"`, never an unknown `re:` silently searched as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Union

from .errors import BadRequest

MAX_QUERY_LENGTH = 1000
MAX_TERMS = 50
MAX_DEPTH = 8
MAX_TOKENS_PER_TERM = 32

TEXT_FIELDS = ("subject", "from", "to", "body")
OPERATORS = (*TEXT_FIELDS, "tag", "is", "has", "before", "after")
IS_VALUES = ("unread", "read")
HAS_VALUES = ("attachment", "attachments")

# The one tokenizer both databases' indexes are built to agree with (store/search.py): runs of
# letters and digits. `\w` minus the underscore is Unicode letters, digits and marks.
_TOKEN = re.compile(r"[^\W_]+")
# What reads as an operator (`name:`): a known one, or an error. `10:30` or `€:` are words.
_OPERATOR_NAME = re.compile(r"[A-Za-z]+")


class InvalidQuery(BadRequest):
    """400 `invalid_query`: the query is not valid syntax. `details` say where (`position`, a
    0-based character offset into the query) and what was `expected` there."""

    code = "invalid_query"

    def __init__(self, message: str, *, position: int, expected: str, field: str = "query"):
        super().__init__(message, details={"field": field, "position": position, "expected": expected})


def tokens_of(text: str) -> list[str]:
    """Text as the index sees it: lower-case runs of letters and digits."""
    return [t.lower() for t in _TOKEN.findall(text)]


# --- the tree ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """These tokens, adjacent and in order, in `field` (None: any text field). `prefix`: the
    last token may be the start of a longer one."""

    tokens: tuple[str, ...]
    field: str | None = None
    prefix: bool = False


@dataclass(frozen=True)
class Tag:
    key: str
    value: str | None = None


@dataclass(frozen=True)
class Flag:
    """is:unread → "unread", is:read → "read", has:attachment → "attachment"."""

    name: str


@dataclass(frozen=True)
class When:
    """Received (or, outbound, created) `before` (exclusive) or `after` (inclusive) `at`."""

    op: str
    at: datetime


@dataclass(frozen=True)
class Not:
    term: Node


@dataclass(frozen=True)
class Or:
    terms: tuple[Node, ...]


@dataclass(frozen=True)
class And:
    terms: tuple[Node, ...]


Node = Union[Text, Tag, Flag, When, Not, Or, And]  # noqa: UP007 (a runtime alias the dataclasses name)


# --- lexing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tok:
    kind: str  # "(" ")" "-" "OR" "AND" "word" "phrase" "op"
    pos: int
    text: str = ""  # word / phrase text, or the operator's name
    value: str = ""  # an operator's value
    quoted: bool = False  # an operator's value was a "quoted phrase"
    value_pos: int = 0


def _lex(q: str, field: str) -> list[_Tok]:
    out: list[_Tok] = []
    i, n = 0, len(q)
    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
        elif c in "()":
            out.append(_Tok(c, i))
            i += 1
        elif c == "-":
            if i + 1 >= n or q[i + 1].isspace() or q[i + 1] == ")":
                raise InvalidQuery(f"A '-' at position {i} negates nothing: write it directly before a term, as in -word.",
                                   position=i, expected="a term right after '-'", field=field)
            out.append(_Tok("-", i))
            i += 1
        elif c == '"':
            text, i = _phrase(q, i, field)
            out.append(_Tok("phrase", i - len(text) - 2, text))
        else:
            start = i
            while i < n and not q[i].isspace() and q[i] not in '()"':
                i += 1
            word = q[start:i]
            name, colon, value = word.partition(":")
            if colon and _OPERATOR_NAME.fullmatch(name):
                out.append(_operator(q, start, name, value, i, field, out))
                if out[-1].quoted:
                    i = out[-1].value_pos + len(out[-1].value) + 2
            elif word in ("OR", "AND"):
                out.append(_Tok(word, start))
            else:
                out.append(_Tok("word", start, word))
    return out


def _phrase(q: str, start: int, field: str) -> tuple[str, int]:
    end = q.find('"', start + 1)
    if end < 0:
        raise InvalidQuery(f'The quote at position {start} is never closed.', position=start,
                           expected='a closing "', field=field)
    return q[start + 1:end], end + 1


def _operator(q: str, start: int, name: str, value: str, end: int, field: str, out: list[_Tok]) -> _Tok:
    key = name.lower()
    if key not in OPERATORS:
        raise InvalidQuery(f"Unknown operator {name + ':'!r} at position {start}; quote the text to search for it "
                           f'as words ("{name}:...").', position=start, expected="one of " + ", ".join(o + ":" for o in OPERATORS),
                           field=field)
    value_pos = start + len(name) + 1
    if not value:
        if end < len(q) and q[end] == '"':
            text, _ = _phrase(q, end, field)
            return _Tok("op", start, key, text, quoted=True, value_pos=end)
        raise InvalidQuery(f"{name}: at position {start} has no value.", position=value_pos,
                           expected=f"a value after {name}:", field=field)
    return _Tok("op", start, key, value, value_pos=value_pos)


# --- parsing ----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, q: str, field: str):
        self.q, self.field = q, field
        self.toks = _lex(q, field)
        self.i = 0
        self.terms = 0

    def error(self, message: str, pos: int, expected: str) -> InvalidQuery:
        return InvalidQuery(message, position=pos, expected=expected, field=self.field)

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> Node | None:
        node = self.conjunction(depth=0)
        tok = self.peek()
        if tok is not None:  # only a stray ")" stops a top-level conjunction
            raise self.error(f"The ')' at position {tok.pos} closes no '('.", tok.pos, "a term, or the end of the query")
        return node

    def conjunction(self, depth: int) -> Node | None:
        terms: list[Node] = []
        while (tok := self.peek()) is not None and tok.kind != ")":
            if tok.kind == "AND":
                if not terms:
                    raise self.error(f"AND at position {tok.pos} has no term before it.", tok.pos, "a term before AND")
                self.i += 1
                if (nxt := self.peek()) is None or nxt.kind in (")", "OR", "AND"):
                    raise self.error(f"AND at position {tok.pos} has no term after it.", self._end(nxt), "a term after AND")
                continue
            if tok.kind == "OR":
                raise self.error(f"OR at position {tok.pos} has no term before it.", tok.pos, "a term before OR")
            terms.append(self.disjunction(depth))
        if not terms:
            return None
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def disjunction(self, depth: int) -> Node:
        terms = [self.unary(depth)]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.i += 1
            nxt = self.peek()
            if nxt is None or nxt.kind in (")", "OR", "AND"):
                raise self.error(f"OR at position {tok.pos} has no term after it.", self._end(nxt), "a term after OR")
            terms.append(self.unary(depth))
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def _end(self, tok: _Tok | None) -> int:
        return len(self.q) if tok is None else tok.pos

    def unary(self, depth: int) -> Node:
        tok = self.peek()
        assert tok is not None
        if tok.kind == "-":
            self.i += 1
            return Not(self.unary(depth))
        if tok.kind == "(":
            if depth >= MAX_DEPTH:
                raise self.error(f"Groups nest at most {MAX_DEPTH} deep.", tok.pos, "fewer nested '('")
            self.i += 1
            inner = self.conjunction(depth + 1)
            close = self.peek()
            if close is None or close.kind != ")":
                raise self.error(f"The '(' at position {tok.pos} is never closed.", self._end(close), "a closing ')'")
            if inner is None:
                raise self.error(f"The group at position {tok.pos} is empty.", close.pos, "a term inside '( )'")
            self.i += 1
            return inner
        self.i += 1
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(f"A query has at most {MAX_TERMS} terms.", tok.pos, "fewer terms")
        if tok.kind in ("word", "phrase"):
            return self.text(tok.text, None, tok.pos, quoted=tok.kind == "phrase")
        return self.operator(tok)

    def text(self, raw: str, field: str | None, pos: int, *, quoted: bool) -> Text:
        prefix = not quoted and raw.endswith("*")
        words = tokens_of(raw[:-1] if prefix else raw)
        if not words:
            what = "a phrase" if quoted else "a word"
            raise self.error(f"{what.capitalize()} at position {pos} has no letters or digits to search for.", pos,
                             "letters or digits")
        if len(words) > MAX_TOKENS_PER_TERM:
            raise self.error(f"A term has at most {MAX_TOKENS_PER_TERM} words.", pos, "a shorter phrase")
        if prefix and not _TOKEN.fullmatch(raw[:-1][-1:] or "_"):
            raise self.error(f"The '*' at position {pos + len(raw) - 1} follows no letter or digit.", pos + len(raw) - 1,
                             "a word before '*'")
        return Text(tuple(words), field, prefix)

    def operator(self, tok: _Tok) -> Node:
        name, value, vpos = tok.text, tok.value, tok.value_pos
        if name in TEXT_FIELDS:
            return self.text(value, name, vpos, quoted=tok.quoted)
        if name == "tag":
            key, colon, val = value.partition(":")
            if not key:
                raise self.error("tag: needs a key, as in tag:urgent or tag:status:done.", vpos, "a tag key")
            return Tag(key, val if colon else None)
        if name == "is":
            if value.lower() not in IS_VALUES:
                raise self.error(f"is:{value} is not known.", vpos, "is:unread or is:read")
            return Flag(value.lower())
        if name == "has":
            if value.lower() not in HAS_VALUES:
                raise self.error(f"has:{value} is not known.", vpos, "has:attachment")
            return Flag("attachment")
        at = _when(value)
        if at is None:
            raise self.error(f"{name}:{value} is not a date.", vpos, "a date YYYY-MM-DD or an ISO 8601 time")
        return When(name, at)


def _when(value: str) -> datetime | None:
    """YYYY-MM-DD (midnight UTC) or an ISO 8601 time (UTC unless it names a zone)."""
    value = value.strip()
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        if "T" not in value.upper():
            return None
        at = datetime.fromisoformat(value[:-1] + "+00:00" if value[-1:] in "Zz" else value)
        # In UTC, 9999-12-31T23:00-05:00 is in year 10000 and 0001-01-01T00:00+01:00 in year 0:
        # neither exists (OverflowError), so they are not dates either.
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def parse(query: str | None, *, field: str = "query") -> Node | None:
    """The tree of `query`, or None when it has no term (empty, or only spaces): no filter.
    `field` names the parameter in errors (the verb API's `query`, the hosted API's `q`)."""
    if query is None:
        return None
    if not isinstance(query, str):
        raise InvalidQuery("The query must be a string.", position=0, expected="text", field=field)
    if len(query) > MAX_QUERY_LENGTH:
        raise InvalidQuery(f"A query is at most {MAX_QUERY_LENGTH} characters.", position=MAX_QUERY_LENGTH,
                           expected="a shorter query", field=field)
    if "\x00" in query:
        raise InvalidQuery("A query cannot contain NUL characters.", position=query.index("\x00"),
                           expected="printable text", field=field)
    return _Parser(query, field).parse()
