"""Routes of the landing page."""

from __future__ import annotations

from flask import current_app, render_template

from app.main import bp
from app.openapi.declare import HTML, Reply, operation


@bp.get("/")
@operation("The landing page", {200: Reply("An HTML page.", {"type": "string"}, HTML)})
def index() -> str:
    return render_template("index.html", version=current_app.config["APP_VERSION"])
