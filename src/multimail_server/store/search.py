"""Full-text search: a parsed query (core/search_query) as one SQL condition on `messages`.

The index (migration 0011) covers a message's subject, sender, recipients (to and cc) and the
first BODY_LIMIT characters of its text body:

- SQLite: the contentless FTS5 table `message_search` (rowid = messages.seq), kept in step by
  triggers on messages (insert, update of an indexed column, delete), so every writer (received,
  sent, drafts, edits, a mailbox delete, a retention purge that blanks a body) keeps it current
  without calling anything here. Nothing may write to `message_search` directly: a contentless
  table deletes an entry by being told the values it was built from, which the triggers do.
- PostgreSQL: the generated column `messages.search_document` (a tsvector, subject weight A,
  sender B, recipients C, body D) with a GIN index; the database recomputes it on every write.
  A tsvector holds at most 1 MB, so every field is cut (migration 0015: the first 10,000
  characters of the subject, 2,000 of the sender, 20,000 of the recipients, BODY_LIMIT of the
  body): unbounded, a stranger's message with a huge Subject could not be stored at all.

Both split text at every character that is not a letter or a digit (the regular expression
below on PostgreSQL; FTS5's unicode61 tokenizer on SQLite), which is how core/search_query
splits the query, so `from:alice@example.com` is the phrase "alice example com" in the sender.

Neither index nor anything here is in `tables.metadata` (one declaration cannot hold an FTS5
table and a tsvector column); `outside_metadata` tells Alembic's comparison to leave them be.

What is indexed holds no decision secret: inbound text and addresses are scrubbed before they
are stored (services/receiving), and outbound rows never hold the one-click links or private
reply addresses (they are composed per recipient at delivery). `reply_to` and raw bytes, where
those could appear, are not indexed. So a query cannot probe for a secret by guessing its parts.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Select,
    Table,
    Text,
    and_,
    exists,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    true,
)

from ..core import search_query as sq
from . import tables as t

BODY_LIMIT = 100_000  # characters of body text indexed (PostgreSQL's tsvector holds at most 1 MB)
FTS_TABLE = "message_search"
PG_COLUMN = "search_document"
PG_INDEX = "ix_messages_search_document"
_OUTSIDE = {FTS_TABLE, *(f"{FTS_TABLE}_{s}" for s in ("data", "idx", "docsize", "config", "content")), PG_INDEX}

# SQLite FTS5 columns and PostgreSQL weights of each field of the language.
_FTS_COLUMN = {"subject": "subject", "from": "sender", "to": "recipients", "body": "body"}
_PG_WEIGHT = {"subject": "A", "from": "B", "to": "C", "body": "D"}

_fts = Table(FTS_TABLE, MetaData(), Column("rowid", Integer), Column(FTS_TABLE, Text))


def outside_metadata(name: str | None, type_: Any, parent_names: MutableMapping[Any, str | None]) -> bool:
    """Alembic's `include_name`: False for the search index's tables, column and index, which
    migrations manage by hand (see the module docstring)."""
    if type_ == "column" and name == PG_COLUMN:
        return False
    return not (type_ in ("table", "index") and name in _OUTSIDE)


def condition(dialect: str, node: sq.Node | None) -> Any:
    """The SQL condition on `messages` that holds exactly for the messages `node` matches."""
    if node is None:
        return true()
    return _Compiler(dialect).cond(node)


def narrow(q: Select, dialect: str, node: sq.Node | None) -> tuple[Select, Any]:
    """`q` (a select from messages) restricted to the messages `node` matches, and the column
    the listing must order and page by (equal to messages.seq).

    On SQLite, the query's words (a text term, or the AND of the text terms side by side) drive
    the scan: the FTS5 table is joined and walked in rowid order, newest first, and the scan
    stops at the page's end. As a condition (`seq IN (every match)`) a common word would first
    collect every message of the store that has it. PostgreSQL plans the same condition either
    way itself (the GIN index for rare words, the mailbox's seq index for common ones)."""
    m = t.messages
    if node is None:
        return q, m.c.seq
    if dialect != "sqlite":
        return q.where(condition(dialect, node)), m.c.seq
    texts: list[sq.Node] = []
    rest: list[sq.Node] = []
    if _text_only(node):
        texts = [node]
    elif isinstance(node, sq.And):
        texts = [n for n in node.terms if _text_only(n)]
        rest = [n for n in node.terms if not _text_only(n)]
    if not texts:
        return q.where(condition(dialect, node)), m.c.seq
    compiler = _Compiler(dialect)
    match = _fts5(sq.And(tuple(texts)) if len(texts) > 1 else texts[0])
    q = q.join(_fts, _fts.c.rowid == m.c.seq).where(_fts.c[FTS_TABLE].op("MATCH")(match), *[compiler.cond(n) for n in rest])
    return q, _fts.c.rowid


class _Compiler:
    def __init__(self, dialect: str):
        self.sqlite = dialect == "sqlite"

    def cond(self, node: sq.Node) -> Any:
        m = t.messages
        if _text_only(node):
            return self.text(node)
        if isinstance(node, sq.And):
            texts = [n for n in node.terms if _text_only(n)]
            rest = [self.cond(n) for n in node.terms if not _text_only(n)]
            if texts:  # every plain text term in one index lookup
                rest.insert(0, self.text(sq.And(tuple(texts)) if len(texts) > 1 else texts[0]))
            return and_(*rest)
        if isinstance(node, sq.Or):
            return or_(*[self.cond(n) for n in node.terms])
        if isinstance(node, sq.Not):
            return not_(self.cond(node.term))
        if isinstance(node, sq.Tag):
            tg = t.message_tags
            where = [tg.c.message_id == m.c.id, tg.c.key == node.key]
            if node.value is not None:
                where.append(tg.c.value == node.value)
            return exists().where(*where)
        if isinstance(node, sq.Flag):
            if node.name == "unread":
                return m.c.read.is_(False)
            if node.name == "read":
                return m.c.read.is_(True)
            return exists().where(t.attachments.c.message_id == m.c.id)
        if isinstance(node, sq.When):
            when = func.coalesce(m.c.received_at, m.c.created_at)
            return when >= node.at if node.op == "after" else when < node.at
        return false()  # pragma: no cover (every node kind is handled above)

    def text(self, node: sq.Node) -> Any:
        m = t.messages
        if self.sqlite:
            hits = select(_fts.c.rowid).where(_fts.c[FTS_TABLE].op("MATCH")(_fts5(node)))
            return m.c.seq.in_(hits)
        query = func.to_tsquery(literal_column("'simple'::regconfig"), _tsquery(node))
        return literal_column(f"messages.{PG_COLUMN}").op("@@")(query)


def _text_only(node: sq.Node) -> bool:
    """A tree of words, phrases, AND and OR: one index lookup answers it."""
    if isinstance(node, sq.Text):
        return True
    return isinstance(node, (sq.And, sq.Or)) and all(_text_only(n) for n in node.terms)


def _fts5(node: sq.Node) -> str:
    """An FTS5 MATCH expression. Tokens are letters and digits only (core/search_query), so
    quoting them as FTS5 strings leaves nothing for its syntax to interpret."""
    if isinstance(node, sq.Text):
        phrase = '"' + " ".join(node.tokens).replace('"', '""') + '"' + ("*" if node.prefix else "")
        return f"{_FTS_COLUMN[node.field]} : {phrase}" if node.field else phrase
    assert isinstance(node, (sq.And, sq.Or))
    joiner = " AND " if isinstance(node, sq.And) else " OR "
    return "(" + joiner.join(_fts5(n) for n in node.terms) + ")"


def _tsquery(node: sq.Node) -> str:
    """A tsquery: a phrase is its lexemes joined by <-> (followed by), each restricted to its
    field's weight; a prefix is `:*`."""
    if isinstance(node, sq.Text):
        weight = _PG_WEIGHT[node.field] if node.field else ""
        parts = []
        for i, tok in enumerate(node.tokens):
            star = "*" if node.prefix and i == len(node.tokens) - 1 else ""
            lexeme = tok.replace("\\", "\\\\").replace("'", "''")
            parts.append(f"'{lexeme}'" + (f":{star}{weight}" if star or weight else ""))
        return "(" + " <-> ".join(parts) + ")"
    assert isinstance(node, (sq.And, sq.Or))
    joiner = " & " if isinstance(node, sq.And) else " | "
    return "(" + joiner.join(_tsquery(n) for n in node.terms) + ")"
