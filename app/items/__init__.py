"""The items resource: JSON API under /api. The example a fork copies for its own resources:
schemas, validation, views with ``@operation`` (docs/api.md, "Adding your own resource")."""

from flask import Blueprint

bp = Blueprint("items", __name__, url_prefix="/api")

from app.items import routes  # noqa: E402, F401  (routes attach themselves to bp)
