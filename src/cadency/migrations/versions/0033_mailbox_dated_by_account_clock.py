"""The dev mailbox dates each email by the account's clock (a test clock's time in test mode)

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 16:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cadency.kit.db

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mailbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dated_at", cadency.kit.db.UTCDateTime(), nullable=True))
    # Emails kept before this were dated by real time: that is the best date they have.
    op.execute("UPDATE mailbox_messages SET dated_at = created_at")
    with op.batch_alter_table("mailbox_messages", schema=None) as batch_op:
        batch_op.alter_column(
            "dated_at", existing_type=cadency.kit.db.UTCDateTime(), nullable=False
        )
        batch_op.drop_index("ix_mailbox_messages_account_id_id")
        batch_op.create_index(
            "ix_mailbox_messages_account_id_dated_at_id",
            ["account_id", "dated_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("mailbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_mailbox_messages_account_id_dated_at_id")
        batch_op.create_index(
            "ix_mailbox_messages_account_id_id", ["account_id", "id"], unique=False
        )
        batch_op.drop_column("dated_at")
