"""Bulk imports: ``POST /api/imports`` queues a job that the worker applies exactly once;
``GET /api/imports/<id>`` follows it. The guarantees are the contract's (docs/contract.md)."""

from flask import Blueprint

bp = Blueprint("imports", __name__, url_prefix="/api")

from app.imports import routes  # noqa: E402, F401  (routes attach themselves to bp)
