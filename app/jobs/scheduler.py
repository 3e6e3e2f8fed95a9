"""The scheduler's entry: ``celery -A app.jobs.scheduler:celery beat``. It only publishes the
periodic jobs by name, those the blueprints declare (app/jobs/__init__.py), so it reads the
broker's settings alone: no database, no secret key."""

from __future__ import annotations

from app import create_jobs_app
from app.jobs import EXTENSION_KEY

celery = create_jobs_app().extensions[EXTENSION_KEY]
