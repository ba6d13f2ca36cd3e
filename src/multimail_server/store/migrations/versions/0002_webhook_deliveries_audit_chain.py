"""Webhook deliveries and attempts; hash-chained, append-only audit trail.

Revision ID: 0002
Revises: 0001
"""
from datetime import UTC

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

PG_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION multimail_audit_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION multimail_audit_append_only();
"""
SQLITE_APPEND_ONLY = (
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
)


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    _chain_existing_events()
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(PG_APPEND_ONLY)
    elif bind.dialect.name == "sqlite":
        for stmt in SQLITE_APPEND_ONLY:
            op.execute(stmt)

    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("description", sa.Text(), server_default="", nullable=False))
        batch.add_column(sa.Column("previous_secret", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("secret_rotated_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("disabled_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("disabled_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.DateTime(), nullable=True))
    op.create_table(
        "webhook_deliveries",
        sa.Column("seq", _seq, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("event_type", sa.String(length=60), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("id", name=op.f("uq_webhook_deliveries_id")),
    )
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.create_index("ix_webhook_deliveries_status_next", ["status", "next_attempt_at"], unique=False)
        batch.create_index(batch.f("ix_webhook_deliveries_webhook_id"), ["webhook_id"], unique=False)
    op.create_table(
        "webhook_attempts",
        sa.Column("seq", _seq, autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("attempted_at", sa.DateTime(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_webhook_attempts")),
    )
    with op.batch_alter_table("webhook_attempts") as batch:
        batch.create_index(batch.f("ix_webhook_attempts_delivery_id"), ["delivery_id"], unique=False)


def _chain_existing_events() -> None:
    """Chain the events written before the chain existed, in their order, and record the head."""

    from multimail_server.core.audit_chain import GENESIS, event_hash

    bind = op.get_bind()
    events = sa.table(
        "audit_events",
        sa.column("at", sa.DateTime),
        *(sa.column(c) for c in ("seq", "id", "actor_key_id", "actor_role", "mailbox_id", "mailbox_address",
                                 "action", "message_id", "oversight_mode", "approval_status", "prev_hash", "hash")),
        sa.column("details", sa.JSON),
    )
    prev, count, last_seq = GENESIS, 0, 0
    for row in bind.execute(sa.select(events).order_by(events.c.seq)).mappings().all():
        ev = dict(row)
        ev["at"] = ev["at"].replace(tzinfo=UTC)
        h = event_hash(prev, ev)
        bind.execute(sa.update(events).where(events.c.seq == ev["seq"]).values(prev_hash=prev, hash=h))
        prev, count, last_seq = h, count + 1, ev["seq"]
    if count:
        head = sa.table("audit_head", sa.column("id"), sa.column("seq"), sa.column("hash"), sa.column("count"))
        bind.execute(sa.insert(head).values(id=1, seq=last_seq, hash=prev, count=count))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS multimail_audit_append_only()")
    elif bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("webhooks") as batch:
        for col in ("updated_at", "disabled_reason", "disabled_at", "consecutive_failures", "secret_rotated_at",
                    "previous_secret", "description"):
            batch.drop_column(col)
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
