"""Time in UTC, as the tables store it and the API writes it: ``utc_now()`` for a column's
default, ``iso_utc()`` for a JSON value, ``UTC_TIME`` for the JSON Schema of one."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC ending in ``Z``; naive values are taken as UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


UTC_TIME = {"type": "string", "format": "date-time", "description": "ISO-8601 in UTC."}
