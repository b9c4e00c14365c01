"""A cancellation may give several reasons

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cancellation_reasons", sa.JSON(), server_default="[]", nullable=False)
        )
    # The one reason given before is the list's only one. The reasons are fixed identifiers
    # (schemas.CancellationReason), so they need no escaping inside the JSON text.
    value = "'[\"' || cancellation_reason || '\"]'"
    if op.get_bind().dialect.name == "postgresql":
        value = f"CAST({value} AS JSON)"
    op.execute(
        f"UPDATE subscriptions SET cancellation_reasons = {value} "
        "WHERE cancellation_reason IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("cancellation_reasons")
