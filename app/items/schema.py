"""Validation of item request bodies and list parameters."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from app.errors import ApiError, ValidationError
from app.items.models import DESCRIPTION_MAX, NAME_MAX

FIELDS = ("name", "description")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_OFFSET = 2**63 - 1


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


def _text(body: dict[str, Any], field: str, maximum: int, nullable: bool) -> str | None:
    value = body[field]
    if value is None:
        if nullable:
            return None
        raise ValidationError(field, f"'{field}' must be a string, not null.")
    if not isinstance(value, str):
        raise ValidationError(field, f"'{field}' must be a string.")
    if len(value) > maximum:
        raise ValidationError(field, f"'{field}' must be at most {maximum} characters.")
    if "\x00" in value:
        raise ValidationError(field, f"'{field}' must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(field, f"'{field}' must be valid Unicode text.") from None
    return value


def _check_fields(body: dict[str, Any]) -> None:
    unknown = sorted(key for key in body if key not in FIELDS)
    if unknown:
        raise ValidationError(unknown[0], f"Unknown field '{unknown[0]}'.")


def _name(body: dict[str, Any]) -> str:
    name = _text(body, "name", NAME_MAX, nullable=False)
    if name is None or not name.strip():
        raise ValidationError("name", "'name' must not be empty.")
    return name


def parse_create(body: dict[str, Any]) -> dict[str, str | None]:
    """Fields for a new item: ``name`` required, ``description`` optional."""
    _check_fields(body)
    if "name" not in body:
        raise ValidationError("name", "'name' is required.")
    fields: dict[str, str | None] = {"name": _name(body), "description": None}
    if "description" in body:
        fields["description"] = _text(body, "description", DESCRIPTION_MAX, nullable=True)
    return fields


def parse_update(body: dict[str, Any]) -> dict[str, str | None]:
    """Fields to change; an empty object changes nothing."""
    _check_fields(body)
    fields: dict[str, str | None] = {}
    if "name" in body:
        fields["name"] = _name(body)
    if "description" in body:
        fields["description"] = _text(body, "description", DESCRIPTION_MAX, nullable=True)
    return fields


def _int_arg(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = (request.args.get(name) or "").strip()
    # Absent or empty (`?limit=&offset=`, as a form with blank fields sends): the default.
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise ValidationError(name, f"'{name}' must be an integer from {minimum} to {maximum}.")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise ValidationError(name, f"'{name}' must be an integer from {minimum} to {maximum}.")
    return value


def parse_page() -> tuple[int, int]:
    """``limit`` (1..100, default 20) and ``offset`` (>= 0, default 0) from the query string."""
    limit = _int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_arg("offset", 0, 0, MAX_OFFSET)
    return limit, offset
