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

# PostgreSQL only: the joint frequency of a property name and its text value (an option's
# share of one property), so the planner does not take "tier" and "Basic" as independent
# and underestimate the matching rows threefold (it then hashes instead of merge-joining).
STATISTICS = "st_property_values_name_text"


def upgrade() -> None:
    # Segment member counts over 1,000,000 subscriptions (benchmarks/exports.py): ended
    # subscriptions by when they were canceled, with the ID a count reads (win-back), and one
    # status's IDs in ID order, matched against a custom property's records (upsell).
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscriptions_account_status_canceled_id",
            ["account_id", "status", "canceled_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_subscriptions_account_status_id", ["account_id", "status", "id"], unique=False
        )
    # The records whose text or option value is X, in record ID order, from the index alone.
    with op.batch_alter_table("property_values", schema=None) as batch_op:
        batch_op.create_index(
            "ix_property_values_text_lookup",
            ["account_id", "object_type", "name", "text_value", "object_id"],
            unique=False,
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE STATISTICS {STATISTICS} (mcv, dependencies) ON name, text_value "
            "FROM property_values"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")
    with op.batch_alter_table("property_values", schema=None) as batch_op:
        batch_op.drop_index("ix_property_values_text_lookup")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_account_status_id")
        batch_op.drop_index("ix_subscriptions_account_status_canceled_id")
