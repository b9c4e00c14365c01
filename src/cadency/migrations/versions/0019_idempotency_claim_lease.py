"""idempotency claim lease: an unfinished claim lapses (a crashed request's key is free again)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 02:09:38.944819
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cadency.kit.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_until", cadency.kit.db.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("effect_committed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_idempotency_records_created_at"), ["created_at"], unique=False
        )
    # Claims left unfinished before this revision lapse at once: their requests are long gone.
    op.execute(
        "UPDATE idempotency_records SET claimed_until = created_at WHERE status_code IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_records_created_at"))
        batch_op.drop_column("effect_committed")
        batch_op.drop_column("claimed_until")
