"""A table row as the API returns it: the fields its response schema lists, in that order,
times in ISO-8601 UTC (app/utc_time.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.utc_time import iso_utc


def json_value(value: object) -> object:
    """A column's value in JSON: times as ISO-8601 in UTC, the rest as they are."""
    return iso_utc(value) if isinstance(value, datetime) else value


def row_to_dict(row: object, schema: dict[str, Any]) -> dict[str, object]:
    """The fields SCHEMA lists, in its order, read from the row's attributes of those names."""
    return {name: json_value(getattr(row, name)) for name in schema["properties"]}
