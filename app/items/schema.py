"""The items API's request schemas, and the validation that reads them.

Each schema is JSON Schema (the OpenAPI 3.1 document publishes it as is, app/openapi/): the
fields, which are required, their types, lengths and the query's bounds are read from it here
and by app/json_validation.py, so what is validated and what is documented cannot drift apart.
The messages are the contract's.
"""

from __future__ import annotations

from typing import Any

from flask import request

from app.errors import ValidationError
from app.items.cursor import CURSOR_MAX, CURSOR_PATTERN, Position, decode_cursor
from app.items.models import DESCRIPTION_MAX, ITEM, NAME_MAX
from app.json_validation import parse_object, text_schema

ITEM_FIELDS = {
    "name": text_schema(NAME_MAX, blank=False),
    "description": text_schema(DESCRIPTION_MAX, nullable=True),
}
# POST /api/items
NEW_ITEM: dict[str, Any] = {
    "type": "object",
    "properties": ITEM_FIELDS,
    "required": ["name"],
    "additionalProperties": False,
}
# PATCH /api/items/<id>: any of the same fields; an empty object changes nothing.
ITEM_CHANGES: dict[str, Any] = {
    "type": "object",
    "properties": ITEM_FIELDS,
    "additionalProperties": False,
}
# GET /api/items: absent or empty (`?limit=&offset=`, as a form with blank fields sends) is
# the default.
# `cursor` (keyset pagination, app/items/cursor.py) is the `next_cursor` of an earlier page;
# with it, `offset` counts from the cursor's position.
PAGE_QUERY: dict[str, dict[str, Any]] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    "offset": {
        "type": "integer",
        "minimum": 0,
        "maximum": 2**63 - 1,
        "default": 0,
        "description": "Rows to skip: from the list's start, or from the `cursor`'s position.",
    },
    "cursor": {
        "type": "string",
        "maxLength": CURSOR_MAX,
        "pattern": CURSOR_PATTERN,
        "description": (
            "The `next_cursor` of an earlier page: this page starts right after that page's "
            "last item, in the same order, whatever was added or deleted since. Deep pages cost "
            "as little as the first one (offset walks past every skipped row)."
        ),
    },
}
ITEM_PAGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": ITEM},
        "total": {"type": "integer", "minimum": 0},
        "limit": {"type": "integer"},
        "offset": {"type": "integer", "description": "As asked."},
        "next_cursor": {
            "type": ["string", "null"],
            "description": "Pass as `cursor` for the next page; null on the last page.",
        },
    },
    "required": ["items", "total", "limit", "offset", "next_cursor"],
    "additionalProperties": False,
}
UTC_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
STATS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "total_items": {"type": "integer", "minimum": 0},
        "newest_item_at": UTC_TIME_OR_NULL,
        "oldest_item_at": UTC_TIME_OR_NULL,
        "generated_at": {"type": "string", "format": "date-time"},
    },
    "required": ["total_items", "newest_item_at", "oldest_item_at", "generated_at"],
    "additionalProperties": False,
}

DEFAULT_LIMIT = PAGE_QUERY["limit"]["default"]
MAX_LIMIT = PAGE_QUERY["limit"]["maximum"]
MAX_OFFSET = PAGE_QUERY["offset"]["maximum"]


def parse_create(body: dict[str, Any]) -> dict[str, str | None]:
    """Fields for a new item: ``name`` required, ``description`` optional."""
    return parse_object(body, NEW_ITEM)


def parse_update(body: dict[str, Any]) -> dict[str, str | None]:
    """Fields to change; an empty object changes nothing."""
    return parse_object(body, ITEM_CHANGES)


def _int_arg(name: str) -> int:
    schema = PAGE_QUERY[name]
    default, minimum, maximum = schema["default"], schema["minimum"], schema["maximum"]
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return int(default)
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise ValidationError(name, f"'{name}' must be an integer from {minimum} to {maximum}.")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise ValidationError(name, f"'{name}' must be an integer from {minimum} to {maximum}.")
    return value


def parse_page() -> tuple[int, int, Position | None]:
    """``limit`` (1..100, default 20), ``offset`` (>= 0, default 0) and ``cursor`` (absent or
    empty: none) from the query string. With a cursor, ``offset`` counts from the cursor's
    position."""
    limit, offset = _int_arg("limit"), _int_arg("offset")
    raw = request.args.get("cursor") or ""
    if not raw:
        return limit, offset, None
    position = decode_cursor(raw)
    if position is None:
        raise ValidationError(
            "cursor", "'cursor' is not a cursor this API gave: pass a page's 'next_cursor' as is."
        )
    return limit, offset, position
