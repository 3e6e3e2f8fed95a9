"""The exact number of items, kept by the database itself, read without scanning ``items``.

``count(*)`` reads the whole table (an index-only scan at best): its cost grows with the table,
and the list paid it on every page. Instead the table ``items_count`` holds the count, split
over up to SLOTS rows (``slot``, ``n``), and the total is ``sum(n)``: at most SLOTS rows read,
whatever the size of ``items``.

Who keeps it: triggers on ``items``, in the same transaction as the write that fired them, so
the count commits or rolls back with the rows, and a reader's snapshot sees both or neither:

- ``AFTER INSERT`` and ``AFTER DELETE``, once per statement, with the statement's transition
  table (``REFERENCING NEW TABLE``/``OLD TABLE``): one counter update per statement, so a bulk
  import's batch of 500 rows costs one update, not 500.
- ``AFTER TRUNCATE``: empties the counter.

Whatever writes rows (the API, the import worker, psql, ``COPY``) is counted, as no
application code has to remember to do it. A restore (``pg_restore``, scripts/restore.sh)
brings back ``items_count`` from the same snapshot as ``items`` and creates the triggers after
loading the data, so it is exact too.

Why slots: an update of a row locks it until the transaction commits, so one counter row would
make every concurrent write wait for the one before it to commit (its fsync included). A write
adds to the slot ``mod(pg_backend_pid(), SLOTS)``: concurrent connections mostly hit different rows,
and one transaction always uses one slot, so two transactions never wait for each other's slot
in opposite orders (no deadlock). A slot's row is created by the first write that needs it
(``INSERT ... ON CONFLICT DO UPDATE``), so an empty database has an empty counter. A slot may
go negative (rows added through one connection, deleted through another): only the sum means
something.

Why not a count cached in Redis and invalidated by writes: the first read after each write
would scan the table again (writes are frequent), and a write that commits while a reader
recounts could be cached stale. Why not ``pg_class.reltuples``: an estimate, and the contract's
``total`` is exact.

An empty database has no counter rows, so scripts/restore.sh still sees a freshly migrated
database as empty. The triggers run with the writer's rights: the app's role may write
``items_count`` as it may write ``items`` (postgres/roles.sql grants rows on every table).
The total and the page are two statements, as they were with ``count(*)``: under READ
COMMITTED a write committed between them may show in one and not the other.

The migration (0004) installs the same triggers and initialises the counter from ``count(*)``
while holding a lock that keeps writers out.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.extensions import db

SLOTS = 16

item_count = sa.Table(
    "items_count",
    db.metadata,
    sa.Column("slot", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("n", sa.BigInteger, nullable=False),
)

# Postgres: statement-level triggers with transition tables (Postgres 10 and later).
POSTGRES_DDL = [
    f"""
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
    INSERT INTO items_count AS c (slot, n) VALUES (mod(pg_backend_pid(), {SLOTS}), delta)
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


def install(connection: sa.Connection) -> None:
    """Create (or replace) the triggers that keep ``items_count`` for the connection's
    database, and set the counter to the rows there are now. Run with writers kept out (the
    migration locks ``items``; ``create_all`` makes an empty table)."""
    # SHARE: readers go on, writers wait until the migration's transaction commits.
    connection.execute(sa.text("LOCK TABLE items IN SHARE MODE"))
    for statement in POSTGRES_DDL:
        connection.execute(sa.text(statement))
    connection.execute(item_count.delete())
    connection.execute(
        sa.text(
            "INSERT INTO items_count (slot, n) SELECT 0, count(*) FROM items HAVING count(*) > 0"
        )
    )


def _after_create(target: sa.MetaData, connection: sa.Connection, **kw: Any) -> None:
    if item_count in kw.get("tables", ()):
        install(connection)


# ``create_all`` (a database made without the migrations: bench/request_cpu.py) installs the
# triggers once every table, ``items`` and ``items_count`` both, exists.
sa.event.listen(db.metadata, "after_create", _after_create)


def total_column() -> sa.ScalarSelect[Any]:
    """The number of rows in ``items`` as a scalar subquery, exact as of the statement's
    snapshot."""
    # sum(bigint) is numeric in Postgres (a Decimal in Python): cast back to an integer.
    summed = sa.cast(sa.func.coalesce(sa.func.sum(item_count.c.n), 0), sa.BigInteger)
    return sa.select(summed).scalar_subquery()


def total() -> int:
    """The number of rows in ``items``, exact as of the statement's snapshot."""
    return int(db.session.scalar(sa.select(total_column())) or 0)
