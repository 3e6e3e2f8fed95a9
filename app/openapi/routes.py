"""``GET /api/openapi.json``: the document, built once per app from its routes."""

from __future__ import annotations

from flask import Response, current_app, jsonify

from app.openapi import bp
from app.openapi.declare import Reply, operation
from app.openapi.document import build_document


@bp.get("/openapi.json")
@operation(
    "This document",
    {200: Reply("The OpenAPI 3.1 document of the API.", {"type": "object"})},
)
def openapi_document() -> Response:
    document = current_app.extensions.get("openapi_document")
    if document is None:
        document = current_app.extensions["openapi_document"] = build_document(current_app)
    return jsonify(document)
