"""The exact count of items, kept by triggers (app/items/counter.py), so the list reads a few
counter rows instead of counting the whole table on every page.

Initialised from ``count(*)`` with writers to ``items`` held off until this revision commits
(readers go on), so no write slips between the count and the triggers. Made to run again
safely (a database restored from a dump taken before this revision keeps its ``items_count``
but not the triggers): the table is kept if it exists and the counter set anew.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 00:00:00
"""

import sqlalchemy as sa
from alembic import op

from app.items import counter

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if "items_count" not in sa.inspect(bind).get_table_names():
        op.create_table(
            "items_count",
            sa.Column("slot", sa.SmallInteger(), primary_key=True, autoincrement=False),
            sa.Column("n", sa.BigInteger(), nullable=False),
        )
    counter.install(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for trigger in ("insert", "delete", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS items_count_{trigger} ON items")
        op.execute("DROP FUNCTION IF EXISTS items_count_add()")
    else:
        for trigger in ("insert", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS items_count_{trigger}")
    op.drop_table("items_count")
