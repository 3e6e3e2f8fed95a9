"""Start Granian on the stack's app, as gunicorn.conf.py starts gunicorn (the bench's `granian`
peer): the metrics directory emptied first, then the same app factory on the same port, with as
many workers and threads as the stack's gunicorn (GUNICORN_WORKERS, GUNICORN_THREADS)."""

import os
import sys

from app.telemetry import reset_multiproc_dir
from pyservice.gunicorn import gunicorn_threads
from pyservice.settings import Env

reset_multiproc_dir()
workers = os.environ.get("GUNICORN_WORKERS", "2")
threads = str(gunicorn_threads(Env(os.environ)))
argv = [
    sys.executable, "-m", "granian", "--interface", "wsgi", "--factory",
    "--host", "0.0.0.0", "--port", "8000", "--http", "1",
    "--workers", workers, "--blocking-threads", threads,
    "--no-access-log", "--log-level", "warning", "--respawn-failed-workers",
    "app:create_app",
]  # fmt: skip
os.execv(sys.executable, argv)
