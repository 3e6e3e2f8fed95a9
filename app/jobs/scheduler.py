"""The scheduler's entry: ``celery -A app.jobs.scheduler:celery beat``. It only publishes the
periodic jobs by name, so it reads the broker's settings alone: no database, no secret key."""

from __future__ import annotations

from app.config import get_config
from app.jobs import make_celery
from app.logs import configure_logging

config = get_config(jobs_only=True)
configure_logging(config.LOG_LEVEL)
celery = make_celery(config)
