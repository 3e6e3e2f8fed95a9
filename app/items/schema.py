"""The items API's request schemas, and the validation that reads them.

Each schema is JSON Schema (the OpenAPI 3.1 document publishes it as is, app/openapi/): the
fields, which are required, their types, lengths and the query's bounds are read from it here,
so what is validated and what is documented cannot drift apart. The messages are the
contract's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import request

from app.errors import ApiError, ValidationError
from app.items.cursor import CURSOR_MAX, CURSOR_PATTERN, Position, decode_cursor
from app.items.models import DESCRIPTION_MAX, ITEM, NAME_MAX

# Text holds no NUL (Postgres cannot store it); a required text is not blank: it has a
# character that is not whitespace as Python's str.strip() sees it (regex dialects differ on
# \s, so the class is spelled out).
WHITESPACE = "".join(f"\\u{code:04x}" for code in range(0x3001) if chr(code).isspace())
NO_NUL = "^[^\\u0000]*$"
NOT_BLANK = f"^[^\\u0000]*[^\\u0000{WHITESPACE}][^\\u0000]*$"


def text_schema(max_length: int, *, nullable: bool = False, blank: bool = True) -> dict[str, Any]:
    """A text field: at most MAX_LENGTH characters; null allowed when NULLABLE; not empty nor
    only whitespace unless BLANK."""
    schema: dict[str, Any] = {"type": ["string", "null"] if nullable else "string"}
    if not blank:
        schema["minLength"] = 1
    schema["maxLength"] = max_length
    schema["pattern"] = NO_NUL if blank else NOT_BLANK
    return schema


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


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def read_json_object() -> dict[str, Any]:
    """The request body as a JSON object: 415 if not JSON, 400 if malformed, 422 if no object."""
    if not request.is_json:
        raise ApiError(
            415, "unsupported_media_type", "The request body must be JSON (application/json)."
        )
    raw = request.get_data(cache=True)  # raises 413 beyond MAX_CONTENT_LENGTH
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ApiError(400, "malformed_json", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ValidationError(None, "The request body must be a JSON object.")
    return body


def _text(body: dict[str, Any], field: str, schema: Mapping[str, Any]) -> str | None:
    value = body[field]
    if value is None:
        if "null" in schema["type"]:
            return None
        raise ValidationError(field, f"'{field}' must be a string, not null.")
    if not isinstance(value, str):
        raise ValidationError(field, f"'{field}' must be a string.")
    maximum = schema["maxLength"]
    if len(value) > maximum:
        raise ValidationError(field, f"'{field}' must be at most {maximum} characters.")
    if "\x00" in value:
        raise ValidationError(field, f"'{field}' must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(field, f"'{field}' must be valid Unicode text.") from None
    if schema.get("minLength", 0) and not value.strip():
        raise ValidationError(field, f"'{field}' must not be empty.")
    return value


def parse_object(body: dict[str, Any], schema: Mapping[str, Any]) -> dict[str, str | None]:
    """BODY's fields as SCHEMA (NEW_ITEM or ITEM_CHANGES) allows them: unknown fields first,
    then the required ones, then each field in the schema's order. A field SCHEMA requires is
    always in the result, and for a schema that requires any, absent fields are None."""
    fields_schema = schema["properties"]
    unknown = sorted(key for key in body if key not in fields_schema)
    if unknown:
        raise ValidationError(unknown[0], f"Unknown field '{unknown[0]}'.")
    required = schema.get("required", [])
    for field in required:
        if field not in body:
            raise ValidationError(field, f"'{field}' is required.")
    fields: dict[str, str | None] = {}
    for field, field_schema in fields_schema.items():
        if field in body:
            fields[field] = _text(body, field, field_schema)
        elif required:
            fields[field] = None
    return fields


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
