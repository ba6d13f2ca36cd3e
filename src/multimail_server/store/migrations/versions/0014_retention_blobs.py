"""Retention and the blob store: per-mailbox retention windows, when a message's content was
purged, and bytes that may live outside the database (raw_blobs.raw and attachments.content
become nullable; attachments gain the sha256 that names their bytes in the blob store).

Revision ID: 0014
Revises: 0009 (the lead rechains it after the migrations merged meanwhile)
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        batch.add_column(sa.Column("retain_bodies_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("retain_attachments_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("purged_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("attachments_purged_at", sa.DateTime(), nullable=True))
        batch.create_index("ix_messages_mailbox_created", ["mailbox_id", "created_at"], unique=False)
    with op.batch_alter_table("attachments") as batch:
        batch.alter_column("content", existing_type=sa.LargeBinary(), nullable=True)
        batch.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_attachments_content_sha256"), ["content_sha256"], unique=False)
    with op.batch_alter_table("raw_blobs") as batch:
        batch.alter_column("raw", existing_type=sa.LargeBinary(), nullable=True)
        batch.add_column(sa.Column("size", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # Bytes kept in a blob store cannot come back into NOT NULL columns: downgrade only a
    # database that never used one.
    with op.batch_alter_table("raw_blobs") as batch:
        batch.drop_column("size")
        batch.alter_column("raw", existing_type=sa.LargeBinary(), nullable=False)
    with op.batch_alter_table("attachments") as batch:
        batch.drop_index(batch.f("ix_attachments_content_sha256"))
        batch.drop_column("content_sha256")
        batch.alter_column("content", existing_type=sa.LargeBinary(), nullable=False)
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_mailbox_created")
        batch.drop_column("attachments_purged_at")
        batch.drop_column("purged_at")
    with op.batch_alter_table("mailboxes") as batch:
        batch.drop_column("retain_attachments_days")
        batch.drop_column("retain_bodies_days")
