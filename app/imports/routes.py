"""HTTP routes of the bulk imports."""

from __future__ import annotations

from flask import Response, jsonify, url_for

from app.errors import ApiError
from app.imports import bp, service
from app.imports.schema import parse_import
from app.items.schema import read_json_object


@bp.post("/imports")
def create_import() -> tuple[Response, int, dict[str, str]]:
    items = parse_import(read_json_object())
    created = service.create_import(items)
    location = url_for("imports.get_import", import_id=created["id"], _external=True)
    return jsonify(created), 202, {"Location": location}


@bp.get("/imports/<import_id>")
def get_import(import_id: str) -> Response:
    found = service.get_import(import_id)
    if found is None:
        raise ApiError(404, "not_found", "The requested import does not exist.")
    return jsonify(found)
