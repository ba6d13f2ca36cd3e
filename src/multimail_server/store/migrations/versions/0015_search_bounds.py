"""Search index bounds on PostgreSQL: every indexed field is cut to a length, not only the body.

A tsvector holds at most 1 MB. 0011 bounded the body (100,000 characters, at most ~530 KB of
tsvector however the text is made) but not the subject, sender or recipients, which a stranger on
the SMTP port chooses: a 900 KB message whose Subject is 100,000 distinct words made a 1.2 MB
tsvector, so the generated column failed the INSERT ("string is too long for tsvector") and the
message could never be stored (451 to the sender on every retry). The generated column is made
again with each field cut to store/search.py's limits (the subject, sender and recipients
together add at most ~180 KB), so the document stays well under 1 MB.

SQLite's FTS5 has no such limit; its triggers are left as they are (a contentless FTS5 table is
told the exact values an entry was built from to delete it, so changing what the triggers pass
would corrupt the entries of rows indexed before).

Revision ID: 0015
Revises: 0014
"""
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BODY_LIMIT = 100_000
SUBJECT_LIMIT = 10_000
SENDER_LIMIT = 2_000
RECIPIENTS_LIMIT = 20_000


def _pg_part(expr: str, weight: str) -> str:
    return (f"setweight(to_tsvector('simple'::regconfig, regexp_replace({expr}, '[[:punct:]]+', ' ', 'g')), "
            f"'{weight}')")


def _document(bounded: bool) -> str:
    def cut(expr: str, limit: int) -> str:
        return f"left({expr}, {limit})" if bounded else expr

    return " || ".join([
        _pg_part(cut("coalesce(subject, '')", SUBJECT_LIMIT), "A"),
        _pg_part(cut("coalesce(from_addr, '')", SENDER_LIMIT), "B"),
        _pg_part(cut("coalesce((to_addrs::jsonb)::text, '') || ' ' || coalesce((cc_addrs::jsonb)::text, '')",
                     RECIPIENTS_LIMIT), "C"),
        _pg_part(f"left(coalesce(body_text, ''), {BODY_LIMIT})", "D"),
    ])


def _rebuild(bounded: bool) -> None:
    op.execute("DROP INDEX IF EXISTS ix_messages_search_document")
    op.execute("ALTER TABLE messages DROP COLUMN IF EXISTS search_document")
    op.execute(f"ALTER TABLE messages ADD COLUMN search_document tsvector GENERATED ALWAYS AS ({_document(bounded)}) STORED")
    op.execute("CREATE INDEX ix_messages_search_document ON messages USING gin (search_document)")
    op.execute("ANALYZE messages")


def upgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        _rebuild(bounded=True)


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        _rebuild(bounded=False)
