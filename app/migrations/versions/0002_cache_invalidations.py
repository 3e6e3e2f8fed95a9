"""Record cache invalidations lost while Redis was unreachable (app/caching.py).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 00:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cache_invalidations",
        sa.Column("cache_key", sa.String(length=250), primary_key=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
    )


def downgrade() -> None:
    op.drop_table("cache_invalidations")
