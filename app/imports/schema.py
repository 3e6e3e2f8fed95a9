"""Validation of ``POST /api/imports``: every item is checked before anything is queued, and
the first invalid one is named by its index and field (``items[3].name``). The body's JSON
Schema below is what the OpenAPI document publishes; its bounds are read from it here."""

from __future__ import annotations

from typing import Any

from app.errors import ValidationError
from app.items.schema import NEW_ITEM
from app.json_validation import parse_object

MAX_ITEMS = 5000

# POST /api/imports
NEW_IMPORT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": NEW_ITEM, "minItems": 1, "maxItems": MAX_ITEMS},
    },
    "required": ["items"],
    "additionalProperties": False,
}


def parse_import(body: dict[str, Any]) -> list[dict[str, str | None]]:
    """The items of an import body ``{"items": [...]}``, each as ``parse_create`` gives it."""
    items_schema = NEW_IMPORT["properties"]["items"]
    unknown = sorted(key for key in body if key not in NEW_IMPORT["properties"])
    if unknown:
        raise ValidationError(unknown[0], f"Unknown field '{unknown[0]}'.")
    if "items" not in body:
        raise ValidationError("items", "'items' is required.")
    items = body["items"]
    if not isinstance(items, list):
        raise ValidationError("items", "'items' must be a list of items.")
    low, high = items_schema["minItems"], items_schema["maxItems"]
    if not low <= len(items) <= high:
        raise ValidationError("items", f"'items' must hold {low} to {high} items.")
    parsed = []
    for index, item in enumerate(items):
        where = f"items[{index}]"
        if not isinstance(item, dict):
            raise ValidationError(where, f"Item {index} must be a JSON object.")
        try:
            parsed.append(parse_object(item, items_schema["items"]))
        except ValidationError as error:
            field = f"{where}.{error.field}" if error.field else where
            raise ValidationError(field, f"Item {index}: {error.message}") from None
    return parsed
