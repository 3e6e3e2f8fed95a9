"""Item operations against the database, with single items and statistics cached.

Lists are never cached, so a page read after a write is always current; their ``total`` is
the count the database keeps beside the rows (app/items/counter.py), and deep pages go by
cursor (app/items/cursor.py). Single items
(``item:<id>``) and the statistics (``stats``) are cached; every write invalidates both after
its commit, and a read that raced a write never stores what it read (app/caching.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from app.caching import cache_invalidate, cache_read, cache_store
from app.extensions import db
from app.items import counter
from app.items.cursor import Position, encode_cursor
from app.items.models import MAX_ID, Item, item_to_dict
from app.utc_time import iso_utc

STATS_KEY = "stats"


def item_key(item_id: int) -> str:
    return f"item:{item_id}"


def _invalidate(item_id: int) -> None:
    cache_invalidate(item_key(item_id), STATS_KEY)


def list_items(limit: int, offset: int, after: Position | None = None) -> dict[str, Any]:
    """A page, newest first: OFFSET rows skipped, counted from the start of the list or, with a
    cursor, from the position AFTER. One row
    more than LIMIT is read to know whether a next page exists. ``total`` is the counter the
    database keeps (app/items/counter.py), not a count of the table."""
    query = sa.select(Item).order_by(Item.created_at.desc(), Item.id.desc()).limit(limit + 1)
    if after is not None:
        query = query.where(sa.tuple_(Item.created_at, Item.id) < tuple(after))
    if offset:
        query = query.offset(offset)
    rows = list(db.session.scalars(query))
    page = rows[:limit]
    last = page[-1] if len(rows) > limit else None
    return {
        "items": [item_to_dict(item) for item in page],
        "total": counter.total(),
        "limit": limit,
        "offset": offset,
        "next_cursor": None if last is None else encode_cursor(last.created_at, last.id),
    }


def _load(item_id: int) -> Item | None:
    if item_id > MAX_ID:  # beyond BIGINT: cannot exist, and would not bind as a parameter
        return None
    return db.session.get(Item, item_id)


def get_item(item_id: int) -> dict[str, Any] | None:
    if item_id > MAX_ID:
        return None
    cached = cache_read(item_key(item_id))
    if cached.value is not None:
        return dict(cached.value)
    item = _load(item_id)
    if item is None:
        return None
    data = item_to_dict(item)
    cache_store(item_key(item_id), cached, data)
    return data


def create_item(fields: dict[str, str | None]) -> dict[str, Any]:
    item = Item(name=fields["name"], description=fields.get("description"))
    db.session.add(item)
    db.session.commit()
    _invalidate(item.id)
    return item_to_dict(item)


def update_item(item_id: int, fields: dict[str, str | None]) -> dict[str, Any] | None:
    item = _load(item_id)
    if item is None:
        return None
    changed = False
    for name, value in fields.items():
        if getattr(item, name) != value:
            setattr(item, name, value)
            changed = True
    if changed:
        db.session.commit()
        _invalidate(item_id)
    return item_to_dict(item)


def delete_item(item_id: int) -> bool:
    item = _load(item_id)
    if item is None:
        return False
    db.session.delete(item)
    db.session.commit()
    _invalidate(item_id)
    return True


def get_stats() -> dict[str, Any]:
    """Counts and bounds from one query, cached for STATS_CACHE_TIMEOUT seconds."""
    cached = cache_read(STATS_KEY)
    if cached.value is not None:
        return dict(cached.value)
    # The count from the counter, the bounds from the ends of ix_items_created_at_id: no scan.
    count, newest, oldest = db.session.execute(
        sa.select(
            counter.total_column(), sa.func.max(Item.created_at), sa.func.min(Item.created_at)
        )
    ).one()
    stats = {
        "total_items": count,
        "newest_item_at": iso_utc(newest),
        "oldest_item_at": iso_utc(oldest),
        "generated_at": iso_utc(datetime.now(UTC)),
    }
    cache_store(STATS_KEY, cached, stats, timeout=current_app.config["STATS_CACHE_TIMEOUT"])
    return stats
