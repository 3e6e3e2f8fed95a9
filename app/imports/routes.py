"""HTTP routes of the bulk imports, each with the operation the OpenAPI document shows for it."""

from __future__ import annotations

from flask import Response, jsonify, url_for

from app.errors import ApiError
from app.imports import bp, service
from app.imports.models import IMPORT
from app.imports.schema import NEW_IMPORT, parse_import
from app.json_validation import read_json_object
from app.openapi.declare import Reply, operation


@bp.post("/imports")
@operation(
    "Import items in bulk, in the background",
    {
        202: Reply(
            "Accepted and queued: the import, to follow at its URL.",
            IMPORT,
            headers={"Location": "The import's absolute public URL."},
        )
    },
    errors=(503,),
    body=NEW_IMPORT,
    description="Every item is validated first: an invalid one gives 422 naming its index "
    "and field (`items[3].name`), and nothing is queued. The worker writes each item of an "
    "accepted import exactly once.",
)
def create_import() -> tuple[Response, int, dict[str, str]]:
    items = parse_import(read_json_object())
    created = service.create_import(items)
    location = url_for("imports.get_import", import_id=created["id"], _external=True)
    return jsonify(created), 202, {"Location": location}


@bp.get("/imports/<import_id>")
@operation("Follow an import", {200: Reply("The import.", IMPORT)}, errors=(404, 503))
def get_import(import_id: str) -> Response:
    found = service.get_import(import_id)
    if found is None:
        raise ApiError(404, "not_found", "The requested import does not exist.")
    return jsonify(found)
