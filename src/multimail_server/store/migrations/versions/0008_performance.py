"""Performance: indexes for the queries every received message and every inbox page run.

- messages (mailbox_id, internet_message_id): inbound de-duplication and threading look a
  mailbox's messages up by Message-ID; with the single-column index only, SQLite's planner took
  ix_messages_claimable on mailbox_id and scanned the whole mailbox for every message received;
- messages (mailbox_id, direction, read, seq): check_inbox(unread=true), what an agent polls,
  scanned a mailbox whose mail was all read to its end to find nothing new.

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_mailbox_internet_id", "messages", ["mailbox_id", "internet_message_id"], unique=False)
    op.create_index("ix_messages_mailbox_direction_read_seq", "messages", ["mailbox_id", "direction", "read", "seq"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_messages_mailbox_direction_read_seq", table_name="messages")
    op.drop_index("ix_messages_mailbox_internet_id", table_name="messages")
