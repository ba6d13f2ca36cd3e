"""Approval policies: approvers by email, N of M, timeouts, escalation, digests, the kill switch,
quiet hours.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


# The audit trail's append-only triggers on SQLite, as 0002 created them.
SQLITE_APPEND_ONLY = (
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
)


def _widen_actor_columns(before: int, after: int) -> None:
    """An email approver's address is recorded where a key id was (messages.decided_by,
    audit_events.actor_key_id). PostgreSQL alters the columns in place (its trigger stays);
    SQLite copies the table, which drops the audit trail's append-only triggers, so they are
    created again in the same migration."""
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("messages", "decided_by", existing_type=sa.String(length=before), type_=sa.String(length=after))
        op.alter_column("audit_events", "actor_key_id", existing_type=sa.String(length=before), type_=sa.String(length=after))
        return
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("decided_by", existing_type=sa.String(length=before), type_=sa.String(length=after))
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("actor_key_id", existing_type=sa.String(length=before), type_=sa.String(length=after))
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    for stmt in SQLITE_APPEND_ONLY:
        op.execute(stmt)


def upgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        batch.add_column(sa.Column("approvers", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("approvals_required", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("approval_timeout", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("on_timeout", sa.String(length=20), nullable=False, server_default="reject"))
        batch.add_column(sa.Column("escalate_to", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("digest", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("digest_sent_until", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("quiet_hours", sa.JSON(), nullable=True))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("approval_policy", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("approvals", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("approval_due_at", sa.DateTime(), nullable=True))
        batch.create_index(batch.f("ix_messages_approval_due_at"), ["approval_due_at"], unique=False)
    _widen_actor_columns(40, 320)
    op.create_table(
        "approval_links",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("approver", sa.String(length=320), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("notification_id", sa.String(length=40), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_links")),
    )
    op.create_index(op.f("ix_approval_links_message_id"), "approval_links", ["message_id"], unique=False)
    op.create_table(
        "outbound_pauses",
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("paused_at", sa.DateTime(), nullable=False),
        sa.Column("paused_by", sa.String(length=320), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_outbound_pauses")),
    )


def downgrade() -> None:
    op.drop_table("outbound_pauses")
    op.drop_index(op.f("ix_approval_links_message_id"), table_name="approval_links")
    op.drop_table("approval_links")
    _widen_actor_columns(320, 40)
    with op.batch_alter_table("messages") as batch:
        batch.drop_index(batch.f("ix_messages_approval_due_at"))
        batch.drop_column("approval_due_at")
        batch.drop_column("approvals")
        batch.drop_column("approval_policy")
    with op.batch_alter_table("mailboxes") as batch:
        for column in ("quiet_hours", "digest_sent_until", "digest", "escalate_to", "on_timeout", "approval_timeout", "approvals_required", "approvers"):
            batch.drop_column(column)
