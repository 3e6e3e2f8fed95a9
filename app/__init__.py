"""The Flask app. ``create_app()``, ``create_database_app()`` and ``create_jobs_app()`` come
from app/factory.py, imported when first asked for: a process that needs one module of the
package (gunicorn's settings, the job services' healthchecks, the migration job) imports that
module alone, not Flask, SQLAlchemy and every blueprint with it."""

from __future__ import annotations

from typing import Any

from app.paths import MIGRATIONS_DIR, PACKAGE_DIR
from app.version import __version__

__all__ = [
    "MIGRATIONS_DIR",
    "PACKAGE_DIR",
    "ConfigError",
    "__version__",
    "create_app",
    "create_database_app",
    "create_jobs_app",
]
_FROM_FACTORY = {"create_app", "create_database_app", "create_jobs_app", "ConfigError"}


def __getattr__(name: str) -> Any:
    if name in _FROM_FACTORY:
        from app import factory

        return getattr(factory, name)
    raise AttributeError(f"module 'app' has no attribute {name!r}")
