"""Threads per gunicorn worker: gunicorn's ``threads`` (gunicorn.conf.py) and the default size
of each worker's database pool (app/config.py), one definition read by both."""

from __future__ import annotations

from pyservice.settings import Env

DEFAULT_GUNICORN_THREADS = 4


def gunicorn_threads(env: Env) -> int:
    """GUNICORN_THREADS: a worker's threads each hold at most one database connection."""
    return env.int("GUNICORN_THREADS", DEFAULT_GUNICORN_THREADS, minimum=1)
