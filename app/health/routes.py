"""Health endpoints; see the contract for the exact bodies."""

from __future__ import annotations

from flask import Response, current_app, jsonify

from app.health import bp
from app.health.checks import dependencies


@bp.get("/healthz")
def liveness() -> Response:
    return jsonify(status="ok")


@bp.get("/health")
def readiness() -> tuple[Response, int]:
    database, cache = dependencies()
    if not database:
        status, code = "unhealthy", 503
    elif not cache:
        status, code = "degraded", 200
    else:
        status, code = "healthy", 200
    body = {
        "status": status,
        "database": "connected" if database else "disconnected",
        "cache": "connected" if cache else "disconnected",
        "version": current_app.config["APP_VERSION"],
    }
    return jsonify(body), code
