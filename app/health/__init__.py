"""Liveness (/healthz) and readiness (/health) endpoints."""

from flask import Blueprint

bp = Blueprint("health", __name__)

from app.health import routes  # noqa: E402, F401  (routes attach themselves to bp)
