"""The exact number of items, kept by the database itself, read without scanning ``items``.

``count(*)`` reads the whole table (an index-only scan at best): its cost grows with the table,
and the list paid it on every page. Instead the table ``items_count`` holds the count, split
over up to 16 slot rows (``slot``, ``n``), and the total is ``sum(n)``: at most 16 rows read,
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
adds to the slot ``mod(pg_backend_pid(), 16)``: concurrent connections mostly hit different rows,
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

The triggers are defined once, by the migration that installs them
(app/migrations/versions/0004_items_count.py), which also sets the counter from ``count(*)``
while holding a lock that keeps writers out; a change to them is a new revision.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.extensions import db

item_count = sa.Table(
    "items_count",
    db.metadata,
    sa.Column("slot", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("n", sa.BigInteger, nullable=False),
)


def total_column() -> sa.ScalarSelect[Any]:
    """The number of rows in ``items`` as a scalar subquery, exact as of the statement's
    snapshot."""
    # sum(bigint) is numeric in Postgres (a Decimal in Python): cast back to an integer.
    summed = sa.cast(sa.func.coalesce(sa.func.sum(item_count.c.n), 0), sa.BigInteger)
    return sa.select(summed).scalar_subquery()


def total() -> int:
    """The number of rows in ``items``, exact as of the statement's snapshot."""
    return int(db.session.scalar(sa.select(total_column())) or 0)
