"""Trust: inbound raw bytes stored once (raw_blobs), the content version an approval was bound to.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "raw_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_raw_blobs")),
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("raw_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("approved_content_hash", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_messages_raw_sha256"), ["raw_sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_index(batch.f("ix_messages_raw_sha256"))
        batch.drop_column("approved_content_hash")
        batch.drop_column("raw_sha256")
    op.drop_table("raw_blobs")
