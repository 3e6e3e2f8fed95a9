"""The worker's entry: ``celery -A app.jobs.worker:celery worker``.

A Flask app like the web's (database, cache, Sentry) around every task, and the worker's
metrics (app/jobs/metrics.py, connected to Celery's signals when imported) served by its main
process on port 9100 for Prometheus.
"""

from __future__ import annotations

import app.jobs.metrics  # noqa: F401
from app import create_app
from app.jobs import EXTENSION_KEY, notices
from app.telemetry import reset_multiproc_dir

# Celery's shutdown notices in the stack's log schema, not as text.
notices.install()

# Before any metric is written: the app's own (create_app) and the pool processes'.
reset_multiproc_dir()
flask_app = create_app()
celery = flask_app.extensions[EXTENSION_KEY]
