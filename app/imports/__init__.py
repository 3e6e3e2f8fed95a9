"""Bulk imports: ``POST /api/imports`` queues a job that the worker applies exactly once;
``GET /api/imports/<id>`` follows it. The guarantees are the contract's (docs/contract.md)."""

from flask import Blueprint

from app.jobs import Jobs, Periodic

bp = Blueprint("imports", __name__, url_prefix="/api")
# The worker runs the tasks of app/imports/tasks.py; the scheduler expires finished imports.
Jobs(
    tasks="app.imports.tasks",
    periodic={"expire-imports": Periodic("imports.expire", "IMPORT_EXPIRY_INTERVAL_SECONDS")},
).register(bp)

from app.imports import routes  # noqa: E402, F401  (routes attach themselves to bp)
