"""Scheduled send: when a message may leave (`messages.send_at`, `outbox.not_before`) and whether
a held one is approved before it is scheduled or when it falls due (`gate_timing`, on the message
and as the mailbox's default).

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("send_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("gate_timing", sa.String(length=20), nullable=True))
    with op.batch_alter_table("mailboxes") as batch:
        batch.add_column(sa.Column("gate_timing", sa.String(length=20), nullable=False, server_default="gate_first"))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("not_before", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("not_before")
    with op.batch_alter_table("mailboxes") as batch:
        batch.drop_column("gate_timing")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("gate_timing")
        batch.drop_column("send_at")
