"""HTTP routes of the items API."""

from __future__ import annotations

from flask import Response, jsonify, url_for

from app.errors import ApiError
from app.items import bp, service
from app.items.schema import parse_create, parse_page, parse_update, read_json_object


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "The requested item does not exist.")


@bp.get("/items")
def list_items() -> Response:
    limit, offset = parse_page()
    return jsonify(service.list_items(limit, offset))


@bp.post("/items")
def create_item() -> tuple[Response, int, dict[str, str]]:
    fields = parse_create(read_json_object())
    item = service.create_item(fields)
    # An absolute URL; ProxyFix makes scheme, host and port the ones the client used.
    location = url_for("items.get_item", item_id=item["id"], _external=True)
    return jsonify(item), 201, {"Location": location}


@bp.get("/items/<int:item_id>")
def get_item(item_id: int) -> Response:
    item = service.get_item(item_id)
    if item is None:
        raise _not_found()
    return jsonify(item)


@bp.patch("/items/<int:item_id>")
def update_item(item_id: int) -> Response:
    fields = parse_update(read_json_object())
    item = service.update_item(item_id, fields)
    if item is None:
        raise _not_found()
    return jsonify(item)


@bp.delete("/items/<int:item_id>")
def delete_item(item_id: int) -> tuple[str, int]:
    if not service.delete_item(item_id):
        raise _not_found()
    return "", 204


@bp.get("/stats")
def stats() -> Response:
    return jsonify(service.get_stats())
