"""SQL that differs between Postgres (the stack) and SQLite (the unit tests), written once."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db


def insert_skipping_duplicates(model: Any) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` into MODEL's table, in the database's dialect:
    a row whose unique key exists already is skipped, the others are written."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(model).on_conflict_do_nothing()
