"""SQL the app writes in Postgres's own dialect, written once."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql


def insert_skipping_duplicates(model: Any) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` into MODEL's table (a model or a table): a row
    whose unique key exists already is skipped, the others are written."""
    return postgresql.insert(model).on_conflict_do_nothing()
