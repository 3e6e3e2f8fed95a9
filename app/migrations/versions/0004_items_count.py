"""The exact count of items, kept by triggers (app/items/counter.py), so the list reads a few
counter rows instead of counting the whole table on every page.

Initialised from ``count(*)`` with writers to ``items`` held off until this revision commits
(readers go on), so no write slips between the count and the triggers. Made to run again
safely (a database restored from a dump taken before this revision keeps its ``items_count``
but not the triggers): the table is kept if it exists and the counter set anew.

The triggers are written out here, not imported from the app: a later change to them comes
with a revision of its own, and this one still does what it did.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 00:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The triggers that keep items_count, 16 slots (app/items/counter.py says why); the one
# definition of them: a change is a revision of its own.
POSTGRES_DDL = [
    """
CREATE OR REPLACE FUNCTION items_count_add() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  delta bigint;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM items_count;
    RETURN NULL;
  ELSIF TG_OP = 'INSERT' THEN
    SELECT count(*) INTO delta FROM added;
  ELSE
    SELECT -count(*) INTO delta FROM removed;
  END IF;
  IF delta <> 0 THEN
    INSERT INTO items_count AS c (slot, n) VALUES (mod(pg_backend_pid(), 16), delta)
    ON CONFLICT (slot) DO UPDATE SET n = c.n + EXCLUDED.n;
  END IF;
  RETURN NULL;
END
$$""",
    "DROP TRIGGER IF EXISTS items_count_insert ON items",
    "CREATE TRIGGER items_count_insert AFTER INSERT ON items REFERENCING NEW TABLE AS added "
    "FOR EACH STATEMENT EXECUTE FUNCTION items_count_add()",
    "DROP TRIGGER IF EXISTS items_count_delete ON items",
    "CREATE TRIGGER items_count_delete AFTER DELETE ON items REFERENCING OLD TABLE AS removed "
    "FOR EACH STATEMENT EXECUTE FUNCTION items_count_add()",
    "DROP TRIGGER IF EXISTS items_count_truncate ON items",
    "CREATE TRIGGER items_count_truncate AFTER TRUNCATE ON items "
    "FOR EACH STATEMENT EXECUTE FUNCTION items_count_add()",
]


def upgrade() -> None:
    bind = op.get_bind()
    if "items_count" not in sa.inspect(bind).get_table_names():
        op.create_table(
            "items_count",
            sa.Column("slot", sa.SmallInteger(), primary_key=True, autoincrement=False),
            sa.Column("n", sa.BigInteger(), nullable=False),
        )
    # SHARE: readers go on, writers wait until this revision's transaction commits.
    op.execute("LOCK TABLE items IN SHARE MODE")
    for statement in POSTGRES_DDL:
        op.execute(statement)
    op.execute("DELETE FROM items_count")
    op.execute(
        "INSERT INTO items_count (slot, n) SELECT 0, count(*) FROM items HAVING count(*) > 0"
    )


def downgrade() -> None:
    for trigger in ("insert", "delete", "truncate"):
        op.execute(f"DROP TRIGGER IF EXISTS items_count_{trigger} ON items")
    op.execute("DROP FUNCTION IF EXISTS items_count_add()")
    op.drop_table("items_count")
