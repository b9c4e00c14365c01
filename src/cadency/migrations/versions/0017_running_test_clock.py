"""running test clock

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 02:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cadency.kit.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clock_set_at", cadency.kit.db.UTCDateTime(), nullable=True))
    # Existing test clocks start running from where they stand now.
    # (Naive UTC, as UTCDateTime stores it; SQLite's CURRENT_TIMESTAMP is UTC already.)
    now = (
        "CURRENT_TIMESTAMP"
        if op.get_bind().dialect.name == "sqlite"
        else "(CURRENT_TIMESTAMP AT TIME ZONE 'UTC')"
    )
    op.execute(
        f"UPDATE accounts SET clock_set_at = {now} WHERE mode = 'test' AND clock_now IS NOT NULL"
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscriptions_account_id_next_action_at",
            ["account_id", "next_action_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_account_id_next_action_at")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("clock_set_at")
