"""exports and segments

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cadency.kit.db

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exports",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("requested_by_user_id", sa.Integer(), nullable=True),
        sa.Column("requested_by_api_key_id", sa.String(length=40), nullable=True),
        sa.Column("object_type", sa.String(length=24), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("properties", sa.String(length=32), nullable=False),
        sa.Column("associations_limit", sa.String(length=8), nullable=False),
        sa.Column("view_id", sa.String(length=40), nullable=True),
        sa.Column("segment_id", sa.String(length=40), nullable=True),
        sa.Column("filter_groups", sa.JSON(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("sorts", sa.JSON(), nullable=False),
        sa.Column("query", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("file_path", sa.String(length=300), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", cadency.kit.db.UTCDateTime(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", cadency.kit.db.UTCDateTime(), nullable=False),
        sa.Column("started_at", cadency.kit.db.UTCDateTime(), nullable=True),
        sa.Column("finished_at", cadency.kit.db.UTCDateTime(), nullable=True),
        sa.Column("expires_at", cadency.kit.db.UTCDateTime(), nullable=True),
        sa.Column("file_deleted_at", cadency.kit.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_exports_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_user_id"],
            ["users.id"],
            name=op.f("fk_exports_requested_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exports")),
    )
    op.create_index("ix_exports_account_created", "exports", ["account_id", "created_at"])
    op.create_index("ix_exports_status_lease", "exports", ["status", "lease_until"])
    op.create_index(op.f("ix_exports_requested_by_user_id"), "exports", ["requested_by_user_id"])
    op.create_table(
        "segments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("object_type", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("filter_groups", sa.JSON(), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", cadency.kit.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", cadency.kit.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_segments_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_segments_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
    )
    op.create_index("ix_segments_account_object", "segments", ["account_id", "object_type"])
    op.create_index(op.f("ix_segments_created_by_user_id"), "segments", ["created_by_user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_segments_created_by_user_id"), table_name="segments")
    op.drop_index("ix_segments_account_object", table_name="segments")
    op.drop_table("segments")
    op.drop_index(op.f("ix_exports_requested_by_user_id"), table_name="exports")
    op.drop_index("ix_exports_status_lease", table_name="exports")
    op.drop_index("ix_exports_account_created", table_name="exports")
    op.drop_table("exports")
