"""Routes of the landing page."""

from __future__ import annotations

from flask import current_app, render_template

from app.main import bp


@bp.get("/")
def index() -> str:
    return render_template("index.html", version=current_app.config["APP_VERSION"])
