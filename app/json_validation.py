"""The JSON a request sends, read and validated against the JSON Schema the OpenAPI document
publishes (app/openapi/): ``read_json_object()`` for the body, ``parse_object()`` for its text
fields, ``text_schema()`` to declare one. The rules are read from the schema, so what is
validated and what is documented cannot drift apart; the messages are the contract's
(docs/contract.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import request

from app.errors import ApiError, ValidationError

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
    """BODY's fields as SCHEMA (an object of text fields, as NEW_ITEM) allows them: unknown
    fields first, then the required ones, then each field in the schema's order. A field SCHEMA
    requires is always in the result, and for a schema that requires any, absent fields are
    None."""
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
