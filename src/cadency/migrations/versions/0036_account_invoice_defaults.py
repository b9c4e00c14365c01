"""An account's default invoice comment and its tax IDs, for new invoices and subscriptions

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Both empty for existing accounts: their invoices stay as they were until someone sets them.
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("default_invoice_comment", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("tax_ids", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("tax_ids")
        batch_op.drop_column("default_invoice_comment")
