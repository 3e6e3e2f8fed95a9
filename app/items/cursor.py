"""Keyset (cursor) pagination of the items list: where a page ends, as a string a client passes
back as ``cursor`` for the next page.

A page by cursor reads ``WHERE (created_at, id) < (:created_at, :id) ORDER BY created_at DESC,
id DESC LIMIT n``: the index ``ix_items_created_at_id`` (migration 0001), read backwards, starts
at the position and stops after n rows, so a deep page costs what the first one does, where
``offset`` walks past every skipped row. The position is a row's key, not a row count, so rows
added or deleted meanwhile shift nothing: each row that existed through the walk is on exactly
one page.

The cursor is ``<created_at in microseconds since 1970 UTC>.<id>`` (for example
``1795341296123456.42``). Clients treat it as opaque: the API documents only "pass
``next_cursor`` as ``cursor``". It is not signed: it names a position in a list anyone may read,
so a cursor written by hand only starts a page elsewhere. CURSOR_PATTERN (published in the
OpenAPI document) describes exactly the strings that are accepted: every string it matches is
a position (times beyond what a timestamp holds are clamped, ids beyond BIGINT mean "after any
id at that time"), and anything else is refused with 422 naming ``cursor``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from app.items.models import MAX_ID

# Up to 19 digits each, signed time (a row written before 1970 has a position too).
CURSOR_PATTERN = r"^-?[0-9]{1,19}\.[0-9]{1,19}$"
CURSOR_MAX = 40
_CURSOR = re.compile(CURSOR_PATTERN.replace("$", r"\Z"))

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
# The times a Postgres timestamptz and a Python datetime both hold.
FIRST = datetime(1, 1, 1, tzinfo=UTC)
LAST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


class Position(NamedTuple):
    """A page starts at the rows strictly before this key, newest first."""

    created_at: datetime
    id: int


def _as_utc(moment: datetime) -> datetime:
    # A naive time is taken as UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def encode_cursor(created_at: datetime, item_id: int) -> str:
    """The cursor of the row (CREATED_AT, ITEM_ID): the next page starts after it."""
    micros = (_as_utc(created_at) - EPOCH) // ONE_MICROSECOND
    return f"{micros}.{item_id}"


def decode_cursor(raw: str) -> Position | None:
    """The position RAW names, or None when RAW is not a cursor."""
    if len(raw) > CURSOR_MAX or not _CURSOR.match(raw):
        return None
    micros_text, id_text = raw.split(".")
    micros, item_id = int(micros_text), int(id_text)
    limit = (LAST - EPOCH) // ONE_MICROSECOND
    if micros > limit:
        return Position(LAST, MAX_ID)  # after every time: the list from its start
    if micros < (FIRST - EPOCH) // ONE_MICROSECOND:
        return Position(FIRST, 0)  # before every time: nothing left
    created_at = EPOCH + timedelta(microseconds=micros)
    if item_id > MAX_ID:
        # No id is this large: "after every id at this time", which is "before the next
        # microsecond", a position that binds as a BIGINT.
        if created_at == LAST:
            return Position(LAST, MAX_ID)
        return Position(created_at + ONE_MICROSECOND, 0)
    return Position(created_at, item_id)
