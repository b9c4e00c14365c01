"""scheduled cancel refund

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 05:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The refund chosen with a cancellation at a date; the engine makes it on that date.
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.add_column(sa.Column("cancel_refund", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.drop_column("cancel_refund")
