"""Contacts: the per-mailbox address book, and the mailbox setting `contacts_only` (autonomous
mail to anyone not among its approved contacts is held for a human).

Revision ID: 0012
Revises: 0009 (written against 0009; rechained after 0010 and 0011 at merge)
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        batch.add_column(sa.Column("contacts_only", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "contacts",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("mailbox_id", sa.String(length=40), nullable=False),
        sa.Column("address_key", sa.String(length=320), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("approved_by", sa.String(length=320), nullable=True),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailboxes.id"], name=op.f("fk_contacts_mailbox_id_mailboxes")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_contacts")),
        sa.UniqueConstraint("id", name=op.f("uq_contacts_id")),
        sa.UniqueConstraint("mailbox_id", "address_key", name="uq_contacts_mailbox_address_key"),
    )


def downgrade() -> None:
    op.drop_table("contacts")
    with op.batch_alter_table("mailboxes") as batch:
        batch.drop_column("contacts_only")
