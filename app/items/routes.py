"""HTTP routes of the items API, each with the operation the OpenAPI document shows for it."""

from __future__ import annotations

from flask import Response, jsonify, url_for

from app.errors import ApiError
from app.items import bp, service
from app.items.models import ITEM
from app.items.schema import (
    ITEM_CHANGES,
    ITEM_PAGE,
    NEW_ITEM,
    PAGE_QUERY,
    STATS,
    parse_create,
    parse_page,
    parse_update,
)
from app.json_validation import read_json_object
from app.openapi.declare import Reply, operation

THE_ITEM = Reply("The item.", ITEM)
ITEM_URL = {"Location": "The item's absolute public URL."}


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "The requested item does not exist.")


@bp.get("/items")
@operation(
    "List the items, newest first",
    {200: Reply("A page of items and the total count.", ITEM_PAGE)},
    errors=(422, 503),
    query=PAGE_QUERY,
    description=(
        "Page by `offset`, or by `cursor` for deep pages: pass a page's `next_cursor` as "
        "`cursor` to get the page after it (an `offset` then counts from there). `total` "
        "counts every item."
    ),
)
def list_items() -> Response:
    limit, offset, after = parse_page()
    return jsonify(service.list_items(limit, offset, after))


@bp.post("/items")
@operation(
    "Create an item",
    {201: Reply("The new item.", ITEM, headers=ITEM_URL)},
    errors=(503,),
    body=NEW_ITEM,
)
def create_item() -> tuple[Response, int, dict[str, str]]:
    fields = parse_create(read_json_object())
    item = service.create_item(fields)
    # An absolute URL; ProxyFix makes scheme, host and port the ones the client used.
    location = url_for("items.get_item", item_id=item["id"], _external=True)
    return jsonify(item), 201, {"Location": location}


@bp.get("/items/<int:item_id>")
@operation("Read an item", {200: THE_ITEM}, errors=(404, 503))
def get_item(item_id: int) -> Response:
    item = service.get_item(item_id)
    if item is None:
        raise _not_found()
    return jsonify(item)


@bp.patch("/items/<int:item_id>")
@operation(
    "Change an item's fields",
    {200: THE_ITEM},
    errors=(404, 503),
    body=ITEM_CHANGES,
    description="Any of the fields of a new item; an empty object changes nothing.",
)
def update_item(item_id: int) -> Response:
    fields = parse_update(read_json_object())
    item = service.update_item(item_id, fields)
    if item is None:
        raise _not_found()
    return jsonify(item)


@bp.delete("/items/<int:item_id>")
@operation("Delete an item", {204: Reply("Deleted.")}, errors=(404, 503))
def delete_item(item_id: int) -> tuple[str, int]:
    if not service.delete_item(item_id):
        raise _not_found()
    return "", 204


@bp.get("/stats")
@operation(
    "Aggregate figures of the items",
    {200: Reply("Counts and bounds, cached for STATS_CACHE_TIMEOUT seconds.", STATS)},
    errors=(503,),
)
def stats() -> Response:
    return jsonify(service.get_stats())
