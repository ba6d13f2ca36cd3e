"""claim_messages: leases on inbound messages, their acknowledgement, and the claims themselves.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("claim_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("processed_at", sa.DateTime(), nullable=True))
        batch.create_index(batch.f("ix_messages_claim_id"), ["claim_id"], unique=False)
        batch.create_index("ix_messages_claimable", ["mailbox_id", "direction", "processed_at", "seq"], unique=False)
    op.create_table(
        "message_claims",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("mailbox_id", sa.String(length=40), nullable=False),
        sa.Column("claimed_by", sa.String(length=40), nullable=False),
        sa.Column("message_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_claims")),
    )
    with op.batch_alter_table("message_claims") as batch:
        batch.create_index(batch.f("ix_message_claims_mailbox_id"), ["mailbox_id"], unique=False)


def downgrade() -> None:
    op.drop_table("message_claims")
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_claimable")
        batch.drop_index(batch.f("ix_messages_claim_id"))
        batch.drop_column("processed_at")
        batch.drop_column("claimed_until")
        batch.drop_column("claim_id")
