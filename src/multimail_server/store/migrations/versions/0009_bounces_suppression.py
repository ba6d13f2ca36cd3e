"""Bounces and suppression: the per-mailbox suppression list (hard bounces, complaints, manual
entries). A bounce's per-recipient details live in the outbound message's metadata.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("bounces", sa.JSON(), nullable=True))
    op.create_table(
        "suppressions",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("mailbox_id", sa.String(length=40), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=40), nullable=True),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailboxes.id"], name=op.f("fk_suppressions_mailbox_id_mailboxes")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_suppressions")),
        sa.UniqueConstraint("mailbox_id", "address", name="uq_suppressions_mailbox_address"),
    )


def downgrade() -> None:
    op.drop_table("suppressions")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("bounces")
