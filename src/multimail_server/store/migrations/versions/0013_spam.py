"""Spam: each inbound message's verdict, quarantine state and label; a mailbox's spam threshold.

Revision ID: 0013
Revises: 0009 (the lead rechains it after the other issue-15 migrations)
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("spam_verdict", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("spam_state", sa.String(length=12), nullable=True))
        batch.add_column(sa.Column("spam_label", sa.String(length=10), nullable=True))
        batch.create_index("ix_messages_mailbox_spam_seq", ["mailbox_id", "spam_state", "seq"])
    with op.batch_alter_table("mailboxes") as batch:
        batch.add_column(sa.Column("spam_threshold", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        batch.drop_column("spam_threshold")
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_mailbox_spam_seq")
        batch.drop_column("spam_label")
        batch.drop_column("spam_state")
        batch.drop_column("spam_verdict")
