"""Bulk imports: the imports table, where each imported item came from (unique, so an import
applied twice writes each item once), and the periodic jobs' runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 00:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name="ck_imports_status"
        ),
    )
    op.create_index("ix_imports_status_finished_at", "imports", ["status", "finished_at"])
    # Adding nullable columns without a default rewrites nothing: quick on a large table.
    op.add_column("items", sa.Column("import_id", sa.String(length=36), nullable=True))
    op.add_column("items", sa.Column("import_position", sa.Integer(), nullable=True))
    op.create_index(
        "uq_items_import_position", "items", ["import_id", "import_position"], unique=True
    )
    op.create_table(
        "periodic_runs",
        sa.Column("job", sa.String(length=100), primary_key=True),
        sa.Column("period", sa.BigInteger(), primary_key=True),
        sa.Column(
            "ran_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("periodic_runs")
    op.drop_index("uq_items_import_position", table_name="items")
    op.drop_column("items", "import_position")
    op.drop_column("items", "import_id")
    op.drop_index("ix_imports_status_finished_at", table_name="imports")
    op.drop_table("imports")
