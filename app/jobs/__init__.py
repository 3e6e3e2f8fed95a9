"""Background jobs: Celery, with its own Redis as the broker (never the cache's).

Three processes use it, each from the app image:
- the app publishes jobs from its views (the example's ``POST /api/imports``): ``init_jobs(app)``
  in ``create_app``;
- the ``worker`` service runs them: ``celery -A app.jobs.worker:celery worker``, a Flask app
  around every task, so tasks use the database and the cache as requests do;
- the ``scheduler`` service (Celery beat, one replica) publishes the periodic jobs:
  ``celery -A app.jobs.scheduler:celery beat``, with the broker settings and the blueprints
  alone.

The jobs themselves belong to the blueprints: a blueprint package declares its own with
``Jobs(tasks=..., periodic=...).register(bp)``, and every app that registers the blueprint
(``create_app`` for the app and the worker, ``create_jobs_app`` for the scheduler) adds them to
its Celery. This package names none of them.

Jobs are acknowledged when they finish, not when taken (``task_acks_late``), and a job whose
worker died is handed to another after JOB_VISIBILITY_TIMEOUT, so every job must be safe to
run twice: the example's app/imports/service.py shows how. Only JSON crosses the broker.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from celery import Celery, Task
from celery.signals import before_task_publish, setup_logging

from app.config import Config
from app.jobs.schedule import every

if TYPE_CHECKING:  # the healthchecks import this module: Flask only where a type is read
    from flask import Blueprint, Flask

QUEUE = "jobs"
EXTENSION_KEY = "celery"


@setup_logging.connect
def keep_the_apps_logging(**_: Any) -> None:
    """With a receiver on this signal Celery leaves logging alone, so the worker and the
    scheduler log JSON lines at LOG_LEVEL as the app does (app/logs.py), not Celery's text at
    its own default, WARNING, which would silence every job's INFO line."""


def celery_settings(config: Config | dict[str, Any]) -> dict[str, Any]:
    """Celery's settings from the app's (a Config, or a Flask app's config mapping)."""
    get = config.get if isinstance(config, dict) else lambda name: getattr(config, name)
    timeout = get("BROKER_TIMEOUT")
    return {
        "broker_url": get("JOBS_BROKER_URL"),
        "broker_connection_timeout": timeout,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": get("JOB_VISIBILITY_TIMEOUT"),
            "socket_timeout": max(timeout, 5.0),
            "socket_connect_timeout": timeout,
            "socket_keepalive": True,
            "health_check_interval": 25,
        },
        # A publish that fails is reported at once (the API answers 503), never retried
        # behind the caller's back.
        "task_publish_retry": False,
        "task_default_queue": QUEUE,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        # Taken jobs are acknowledged when they end; a worker lost mid-job hands it back.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": get("WORKER_CONCURRENCY"),
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "worker_send_task_events": False,
        "enable_utc": True,
        # Filled by the blueprints' Jobs when an app registers them.
        "imports": (),
        "beat_schedule": {},
    }


def make_celery(
    config: Config | dict[str, Any], task_cls: type[Task] | str | None = None
) -> Celery:
    celery = Celery("app", task_cls=task_cls or "celery.app.task:Task")
    celery.config_from_object(celery_settings(config))
    return celery


@dataclass(frozen=True)
class Periodic:
    """A job the scheduler publishes, by its task's name, once every INTERVAL_SETTING seconds
    (the name of the app setting that holds the interval)."""

    task: str
    interval_setting: str


@dataclass(frozen=True)
class Jobs:
    """A blueprint's background jobs: TASKS, the module whose import registers its tasks by
    name (the worker imports it at start), and PERIODIC, the scheduler's entries by name."""

    tasks: str
    periodic: Mapping[str, Periodic] = field(default_factory=dict)

    def register(self, blueprint: Blueprint) -> None:
        """Add these jobs to the Celery of every app that registers BLUEPRINT (after
        ``init_jobs``)."""
        blueprint.record_once(lambda state: self.add_to(state.app))

    def add_to(self, app: Flask) -> None:
        celery = app.extensions[EXTENSION_KEY]
        celery.conf.imports = (*celery.conf.imports, self.tasks)
        celery.conf.beat_schedule = {
            **celery.conf.beat_schedule,
            **{
                name: {"task": job.task, "schedule": every(app.config[job.interval_setting])}
                for name, job in self.periodic.items()
            },
        }


@before_task_publish.connect
def _stamp(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """When the job entered the queue: the worker's metrics report the oldest one's age."""
    if headers is not None:
        headers["enqueued_at"] = time.time()


def init_jobs(app: Flask) -> Celery:
    """Bind Celery to APP: every task runs inside an app context of it."""

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = make_celery(dict(app.config), FlaskTask)
    celery.set_default()
    app.extensions[EXTENSION_KEY] = celery
    return celery
