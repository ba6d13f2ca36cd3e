"""Full-text search over subject, sender, recipients and body (store/search.py), built over the
messages already stored.

SQLite: a contentless FTS5 table `message_search` (rowid = messages.seq) and the triggers that
keep it in step with messages; the existing messages are indexed here. PostgreSQL: a generated
tsvector column `messages.search_document` (filled for existing rows as it is added) and a GIN
index on it.

A later SQLite migration that rebuilds `messages` by copy-and-move (batch_alter_table with a
change ALTER TABLE cannot make) drops these triggers with the old table: it must create them
again (`_sqlite_triggers` below) or search goes stale.

The text rules (what is indexed, how it is split) must stay those of store/search.py.

Revision ID: 0011
Revises: 0010
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BODY_LIMIT = 100_000

# --- SQLite ---------------------------------------------------------------------------------------

# unicode61 without diacritics folding: tokens are runs of letters and digits, as the query's.
_FTS = ("CREATE VIRTUAL TABLE message_search USING fts5(subject, sender, recipients, body, content='', "
        "tokenize='unicode61 remove_diacritics 0')")


def _values(row: str) -> str:
    """The indexed values of `row` (new / old): recipients are the to and cc addresses, decoded
    from their JSON arrays."""
    recipients = (f"(SELECT group_concat(value, ' ') FROM (SELECT value FROM json_each({row}.to_addrs) "
                  f"UNION ALL SELECT value FROM json_each({row}.cc_addrs)))")
    return (f"{row}.seq, coalesce({row}.subject, ''), coalesce({row}.from_addr, ''), coalesce({recipients}, ''), "
            f"substr(coalesce({row}.body_text, ''), 1, {BODY_LIMIT})")


_COLUMNS = "rowid, subject, sender, recipients, body"
_ADD = f"INSERT INTO message_search({_COLUMNS}) VALUES ({_values('new')});"
_REMOVE = f"INSERT INTO message_search(message_search, {_COLUMNS}) VALUES ('delete', {_values('old')});"


def _sqlite_triggers() -> list[str]:
    return [
        f"CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN {_ADD} END",
        f"CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN {_REMOVE} END",
        "CREATE TRIGGER messages_search_update AFTER UPDATE OF subject, from_addr, to_addrs, cc_addrs, body_text "
        f"ON messages BEGIN {_REMOVE} {_ADD} END",
    ]


_SQLITE_BACKFILL = f"INSERT INTO message_search({_COLUMNS}) SELECT {_values('messages')} FROM messages"

# --- PostgreSQL -----------------------------------------------------------------------------------


def _pg_part(expr: str, weight: str) -> str:
    # Punctuation (and the JSON arrays' quotes and commas) becomes space, so the parser sees only
    # words and numbers: an address is its parts, as on SQLite and in the query.
    return (f"setweight(to_tsvector('simple'::regconfig, regexp_replace({expr}, '[[:punct:]]+', ' ', 'g')), "
            f"'{weight}')")


_PG_DOCUMENT = " || ".join([
    _pg_part("coalesce(subject, '')", "A"),
    _pg_part("coalesce(from_addr, '')", "B"),
    # jsonb's text form has the addresses' characters, not the \\u escapes of the stored JSON.
    _pg_part("coalesce((to_addrs::jsonb)::text, '') || ' ' || coalesce((cc_addrs::jsonb)::text, '')", "C"),
    _pg_part(f"left(coalesce(body_text, ''), {BODY_LIMIT})", "D"),
])


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute(_FTS)
        for trigger in _sqlite_triggers():
            op.execute(trigger)
        op.execute(_SQLITE_BACKFILL)
    else:
        op.execute(f"ALTER TABLE messages ADD COLUMN search_document tsvector GENERATED ALWAYS AS ({_PG_DOCUMENT}) STORED")
        op.execute("CREATE INDEX ix_messages_search_document ON messages USING gin (search_document)")
        # Statistics of the new column now, not at autovacuum's next visit: without them the
        # planner cannot tell a rare word (use the index) from a common one (walk the mailbox).
        op.execute("ANALYZE messages")


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS messages_search_{name}")
        op.execute("DROP TABLE IF EXISTS message_search")
    else:
        op.execute("DROP INDEX IF EXISTS ix_messages_search_document")
        op.execute("ALTER TABLE messages DROP COLUMN IF EXISTS search_document")
