"""The items resource: JSON API under /api."""

from flask import Blueprint

bp = Blueprint("items", __name__, url_prefix="/api")

from app.items import routes  # noqa: E402, F401  (routes attach themselves to bp)
