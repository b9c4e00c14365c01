"""segment indexes

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 20:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Segment member counts over 1,000,000 subscriptions (benchmarks/exports.py): a status and
    # when it was canceled (win-back), and the IDs of one status in ID order (upsell's join
    # with a custom property's matching records).
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscriptions_account_status_canceled_id",
            ["account_id", "status", "canceled_at", "id"],
            unique=False,
        )
    # A custom text / option value's records, read from the index alone.
    with op.batch_alter_table("property_values", schema=None) as batch_op:
        batch_op.create_index(
            "ix_property_values_text_lookup",
            ["account_id", "object_type", "name", "text_value", "object_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("property_values", schema=None) as batch_op:
        batch_op.drop_index("ix_property_values_text_lookup")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_account_status_canceled_id")
