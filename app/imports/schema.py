"""Validation of ``POST /api/imports``: every item is checked before anything is queued, and
the first invalid one is named by its index and field (``items[3].name``)."""

from __future__ import annotations

from typing import Any

from app.errors import ValidationError
from app.items.schema import parse_create

MAX_ITEMS = 5000


def parse_import(body: dict[str, Any]) -> list[dict[str, str | None]]:
    """The items of an import body ``{"items": [...]}``, each as ``parse_create`` gives it."""
    unknown = sorted(key for key in body if key != "items")
    if unknown:
        raise ValidationError(unknown[0], f"Unknown field '{unknown[0]}'.")
    if "items" not in body:
        raise ValidationError("items", "'items' is required.")
    items = body["items"]
    if not isinstance(items, list):
        raise ValidationError("items", "'items' must be a list of items.")
    if not 1 <= len(items) <= MAX_ITEMS:
        raise ValidationError("items", f"'items' must hold 1 to {MAX_ITEMS} items.")
    parsed = []
    for index, item in enumerate(items):
        where = f"items[{index}]"
        if not isinstance(item, dict):
            raise ValidationError(where, f"Item {index} must be a JSON object.")
        try:
            parsed.append(parse_create(item))
        except ValidationError as error:
            field = f"{where}.{error.field}" if error.field else where
            raise ValidationError(field, f"Item {index}: {error.message}") from None
    return parsed
