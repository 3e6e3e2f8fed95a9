"""The unit suite's own Postgres (tests/support/postgres.py): each test that asks for the
database starts from empty tables and fresh ids, in a database no other process uses, on the
stack's own server version."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from tests.support import postgres

pytestmark = pytest.mark.unit


def test_a_test_starts_from_empty_tables_and_fresh_ids(
    database: str, postgres_server: tuple[str, int]
) -> None:
    engine = sa.create_engine(database)
    insert = sa.text("INSERT INTO items (name) VALUES ('left by an earlier test') RETURNING id")
    try:
        with engine.begin() as connection:
            connection.execute(insert)
            connection.execute(insert)
        postgres.empty(postgres_server[1], engine.url.database or "")
        with engine.begin() as connection:
            assert connection.scalar(sa.text("SELECT count(*) FROM items")) == 0
            assert connection.scalar(sa.text("SELECT coalesce(sum(n), 0) FROM items_count")) == 0
            assert connection.execute(insert).scalar() == 1
            # The migrations' record stays: the database is still at head.
            assert connection.scalar(sa.text("SELECT count(*) FROM alembic_version")) == 1
    finally:
        engine.dispose()


def test_each_process_has_a_database_of_its_own(database: str) -> None:
    assert database.endswith(f"/unit_{os.getpid()}")
    assert "@127.0.0.1:" in database  # loopback only
