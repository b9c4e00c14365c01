"""A payment link may be associated with a deal (the deal's page lists its payment links)

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payment_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deal_id", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_payment_links_deal_id"), ["deal_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_payment_links_deal_id_deals"), "deals", ["deal_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("payment_links", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_payment_links_deal_id_deals"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_payment_links_deal_id"))
        batch_op.drop_column("deal_id")
