"""JSON logging to stdout: one object per line with timestamp, level, logger and message, and
the request id on every line written while a request is handled.

gunicorn's ``logconfig_dict`` uses the same formatter with ``{"()": "app.logs.JsonFormatter"}``
and the ``WriterThreadHandler`` below, so that no request thread waits on stdout.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
import weakref
from datetime import UTC, datetime
from typing import Any

from flask import g, has_request_context
from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter


def utc_timestamp(created: float) -> str:
    """Format a Unix time as ISO-8601 UTC with milliseconds and a ``Z``."""
    moment = datetime.fromtimestamp(created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(_BaseJsonFormatter):
    """python-json-logger formatter whose first fields are always the same four."""

    def add_fields(
        self,
        log_record: dict[str, Any],
        record: logging.LogRecord,
        message_dict: dict[str, Any],
    ) -> None:
        log_record["timestamp"] = utc_timestamp(record.created)
        log_record["level"] = record.levelname
        log_record["logger"] = record.name
        log_record["message"] = record.getMessage()
        # Which gunicorn worker wrote the line: tells workers apart in logs and in tests.
        log_record["pid"] = record.process
        super().add_fields(log_record, record, message_dict)
        # Every line written while a request is handled carries its id, not only the access line.
        if "request_id" not in log_record and has_request_context() and g.get("request_id"):
            log_record["request_id"] = g.request_id


class WriterThreadHandler(logging.Handler):
    """Lines formatted in the caller's thread and, once ``start_writer`` has run in a process,
    written to the stream by one thread of its own.

    Measured (docs/performance.md, "Where the time goes"): with a StreamHandler, the gunicorn
    thread writing its access line to the container's stdout pipe held the handler's lock
    across the write and gave up the GIL during it; the other threads queued behind it, and a
    third of the workers' sampled time was that wait. With the writer started, a request thread
    only formats its line (the request id is read from its own context) and queues it; the
    writer writes every line waiting in one call.

    Nothing is dropped: when MAX_QUEUED lines wait, callers wait for room, and ``flush``
    (``logging.shutdown`` calls it when a process exits normally, gunicorn's workers included)
    returns once the queued lines are written. Until ``start_writer`` (gunicorn.conf.py calls it
    in each worker) and in a forked child, lines are written at once, as a StreamHandler would:
    a process that forks (gunicorn's master) must not fork while a thread of its own is inside
    a write to stdout, which would leave the child's stdout locked.

    Why not the standard library's QueueHandler and QueueListener: the listener hands each
    record to its handler one at a time, which takes the handler's lock and writes once per
    line (what this replaces, only in another thread); QueueHandler with a bounded queue drops
    or raises when it is full, where this waits; and neither writes synchronously until
    started nor starts anew in a forked child.
    """

    MAX_QUEUED = 10_000
    MAX_BATCH = 512
    FLUSH_SECONDS = 5.0

    def __init__(self, stream: Any = None) -> None:
        super().__init__()
        self.stream = stream if stream is not None else sys.stdout
        self._reset()
        method = weakref.WeakMethod(self._reset)
        os.register_at_fork(after_in_child=lambda: _call(method))

    def _reset(self) -> None:
        self._queue: queue.Queue[str] = queue.Queue(self.MAX_QUEUED)
        self._writer: threading.Thread | None = None

    def start_writer(self) -> None:
        """Write from a thread of this process from now on (idempotent)."""
        with self.lock:  # type: ignore[union-attr]
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_forever, name="log-writer", daemon=True
                )
                self._writer.start()

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        if self._writer is None:
            return super().handle(record)  # under the handler's lock, like a StreamHandler
        # No lock: the queue is all that the request threads share.
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        if self._writer is not None:
            self._queue.put(line)
            return
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except Exception:
            self.handleError(record)

    def _write_forever(self) -> None:
        pending = self._queue
        while True:
            lines = [pending.get()]
            while len(lines) < self.MAX_BATCH:
                try:
                    lines.append(pending.get_nowait())
                except queue.Empty:
                    break
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except Exception:
                # A closed or broken stdout: say so where the interpreter reports such errors.
                sys.stderr.write(f"log writer: {len(lines)} lines could not be written\n")
            finally:
                for _ in lines:
                    pending.task_done()

    def flush(self) -> None:
        """Return once every line queued so far is written (or FLUSH_SECONDS have passed)."""
        writer = self._writer
        if writer is None:
            return
        deadline = time.monotonic() + self.FLUSH_SECONDS
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks and writer.is_alive():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._queue.all_tasks_done.wait(remaining)


def _call(method: weakref.WeakMethod[Any]) -> None:
    bound = method()
    if bound is not None:
        bound()


def start_log_writers() -> None:
    """Start the writer thread of every WriterThreadHandler of the root and gunicorn loggers
    (gunicorn.conf.py's ``post_worker_init``: in each worker, after the fork)."""
    for name in (None, "gunicorn.error", "gunicorn.access"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, WriterThreadHandler):
                handler.start_writer()


class _StdoutJsonHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``configure_logging`` installs, recognisable so it is installed once."""


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's records to stdout as JSON lines; safe to call more than once."""
    root = logging.getLogger()
    root.setLevel(level)
    for existing in list(root.handlers):
        if isinstance(existing, _StdoutJsonHandler):
            root.removeHandler(existing)
    # A root handler that already writes JSON (gunicorn's logconfig_dict) would print each
    # line twice if a second one were added; handlers of other kinds (a test runner's) stay.
    if any(isinstance(h.formatter, _BaseJsonFormatter) for h in root.handlers):
        return
    handler = _StdoutJsonHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
