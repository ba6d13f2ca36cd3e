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
        # an email approver's address is recorded where a key id was
        batch.alter_column("decided_by", existing_type=sa.String(length=40), type_=sa.String(length=320))
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("actor_key_id", existing_type=sa.String(length=40), type_=sa.String(length=320))
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
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("actor_key_id", existing_type=sa.String(length=320), type_=sa.String(length=40))
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("decided_by", existing_type=sa.String(length=320), type_=sa.String(length=40))
        batch.drop_index(batch.f("ix_messages_approval_due_at"))
        batch.drop_column("approval_due_at")
        batch.drop_column("approvals")
        batch.drop_column("approval_policy")
    with op.batch_alter_table("mailboxes") as batch:
        for column in ("quiet_hours", "digest_sent_until", "digest", "escalate_to", "on_timeout", "approval_timeout", "approvals_required", "approvers"):
            batch.drop_column(column)
