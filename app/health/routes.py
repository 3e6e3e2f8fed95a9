"""Health endpoints; see the contract for the exact bodies, and the schemas below for their
shape in the OpenAPI document."""

from __future__ import annotations

from flask import Response, current_app, jsonify

from app.health import bp
from app.health.checks import dependencies
from app.openapi.declare import Reply, operation

LIVENESS = {
    "type": "object",
    "properties": {"status": {"const": "ok"}},
    "required": ["status"],
    "additionalProperties": False,
}
CONNECTION = {"type": "string", "enum": ["connected", "disconnected"]}
READINESS = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["healthy", "degraded", "unhealthy"]},
        "database": CONNECTION,
        "cache": CONNECTION,
        "version": {"type": "string"},
    },
    "required": ["status", "database", "cache", "version"],
    "additionalProperties": False,
}


@bp.get("/healthz")
@operation(
    "Liveness: the process serves", {200: Reply("Alive; no dependency is checked.", LIVENESS)}
)
def liveness() -> Response:
    return jsonify(status="ok")


@bp.get("/health")
@operation(
    "Readiness: the database and the cache",
    {
        200: Reply("`healthy`, or `degraded` when only the cache is down.", READINESS),
        503: Reply("`unhealthy`: the database is down.", READINESS),
    },
)
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
