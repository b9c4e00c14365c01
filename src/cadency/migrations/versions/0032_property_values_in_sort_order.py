"""property values in sort order

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 15:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_property_values_text_lookup"
COLUMNS = ["account_id", "object_type", "name", "text_value", "object_id"]


def upgrade() -> None:
    # PostgreSQL only: the text values indexed in code point order (COLLATE "C"), the order the
    # filter language sorts and compares options in, so that one index both finds "tier is
    # Pro" and reads a page of a sort by tier (issue 18). SQLite's index is in that order
    # already (BINARY).
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(INDEX, table_name="property_values")
        op.create_index(
            INDEX, "property_values", COLUMNS, postgresql_ops={"text_value": 'COLLATE "C"'}
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(INDEX, table_name="property_values")
        op.create_index(INDEX, "property_values", COLUMNS)
