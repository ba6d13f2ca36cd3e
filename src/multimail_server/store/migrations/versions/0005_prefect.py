"""Prefect: flow runs waiting on an approval or a decision, webhook kinds, messages' flow run.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("flow_run_id", sa.String(length=36), nullable=True))
        batch.create_index(batch.f("ix_messages_flow_run_id"), ["flow_run_id"], unique=False)
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=30), server_default="http", nullable=False))
        batch.add_column(sa.Column("target", sa.JSON(), nullable=True))
    op.create_table(
        "flow_run_waits",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("flow_run_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.String(length=40), nullable=False),
        sa.Column("mailbox_id", sa.String(length=40), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_flow_run_waits")),
        sa.UniqueConstraint("id", name=op.f("uq_flow_run_waits_id")),
        sa.UniqueConstraint("flow_run_id", "kind", "target_id", name="uq_flow_run_waits_target"),
    )
    with op.batch_alter_table("flow_run_waits") as batch:
        batch.create_index(batch.f("ix_flow_run_waits_mailbox_id"), ["mailbox_id"], unique=False)
        batch.create_index("ix_flow_run_waits_target", ["target_id", "status"], unique=False)
        batch.create_index("ix_flow_run_waits_status_next", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_table("flow_run_waits")
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("target")
        batch.drop_column("kind")
    with op.batch_alter_table("messages") as batch:
        batch.drop_index(batch.f("ix_messages_flow_run_id"))
        batch.drop_column("flow_run_id")
