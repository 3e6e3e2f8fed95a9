"""Celery's notices from its signal handlers ("worker: Warm shutdown (MainProcess)") as lines
of the stack's log schema (pyservice/logs.py).

Celery writes them with ``celery.apps.worker.safe_say``: straight to the file descriptor, as
plain text, because a signal handler must not wait on the logging module's locks. This writes
them the same way (one ``os.write``, no lock) on stdout, formatted as every other line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any

import celery.apps.worker

from pyservice.logs import JsonFormatter

_FORMATTER = JsonFormatter()


def say(message: str, f: Any = None) -> None:
    """Celery's ``safe_say``, on stdout as one JSON line (F, the stream it names, is ignored)."""
    record = logging.LogRecord(
        "celery.worker", logging.INFO, __file__, 0, message.strip(), (), None
    )
    line = _FORMATTER.format(record) + "\n"
    # A closed stdout while stopping: the notice is lost, the shutdown goes on.
    with contextlib.suppress(OSError):
        os.write(sys.__stdout__.fileno(), line.encode())


def install() -> None:
    """Route Celery's signal-handler notices through ``say`` (the worker's entry calls it)."""
    celery.apps.worker.safe_say = say
