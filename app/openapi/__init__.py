"""The API's OpenAPI 3.1 document, generated from the code: the routes from the app's URL map,
and for each view the operation it declares with ``@operation`` (its request and response
schemas are the ones the app validates and returns). Served at ``GET /api/openapi.json``."""

from flask import Blueprint

bp = Blueprint("openapi", __name__, url_prefix="/api")

from app.openapi import routes  # noqa: E402, F401  (routes attach themselves to bp)
