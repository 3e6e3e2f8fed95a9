"""The stack's log lines: one JSON object per line on stdout, for every Python service.

Every line starts with the same five keys, then the record's own fields::

    {"timestamp": "2026-01-31T12:00:00.123Z", "level": "INFO", "logger": "acme",
     "message": "...", "pid": 7, ...}

``timestamp`` is ISO 8601 in UTC with milliseconds and a ``Z``; ``level`` is Python's level
name (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``, ``CRITICAL``); ``pid`` is the writing
process (it tells gunicorn's workers apart). Fields given with ``extra=`` follow, in the order
given, then ``exc_info`` (the traceback) and ``stack_info`` when there is one. Context
providers (``add_context``) add fields to every line a process writes: the app adds the
request id this way. Services that report outcomes (acme, backup) log them with
``log_event``: ``event`` and ``outcome`` come first among the fields.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, TextIO

FIELDS = ("timestamp", "level", "logger", "message", "pid")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# The attributes every LogRecord has: anything else on a record came with ``extra=``.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None)).keys()
) | {"message", "asctime", "taskName"}

_contexts: list[Callable[[], Mapping[str, Any]]] = []


def add_context(provider: Callable[[], Mapping[str, Any]]) -> None:
    """Add PROVIDER's fields to every line this process formats from now on (once per
    provider); a field the record has already is kept."""
    if provider not in _contexts:
        _contexts.append(provider)


def utc_timestamp(created: float) -> str:
    """Format a Unix time as ISO-8601 UTC with milliseconds and a ``Z``."""
    moment = dt.datetime.fromtimestamp(created, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _default(value: object) -> object:
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return str(value)


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: the five fields, its extras, its traceback if any."""

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        line: dict[str, Any] = {
            "timestamp": utc_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                line.setdefault(key, value)
        for provider in _contexts:
            for key, value in provider().items():
                line.setdefault(key, value)
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return line

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.fields(record), default=_default)


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


class _JsonStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``configure_logging`` installs, recognisable so it is installed once. It
    writes to ``sys.stdout`` (or ``sys.stderr``) as it is when a line is written, so a test
    that captures the stream sees the lines."""

    def __init__(self, stream_name: str) -> None:
        super().__init__()
        self.stream_name = stream_name

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return getattr(sys, self.stream_name)

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass  # always the current sys.stdout or sys.stderr


def configure_logging(level: str = "INFO", stream: str = "stdout") -> None:
    """Send every logger's records to stdout (STREAM: "stderr" for a command whose stdout is
    data, pgbackup's ``fetch``) as JSON lines, at LEVEL; safe to call more than once."""
    if stream not in {"stdout", "stderr"}:
        raise ValueError(f"stream must be stdout or stderr, not {stream!r}")
    root = logging.getLogger()
    root.setLevel(level)
    for existing in list(root.handlers):
        if isinstance(existing, _JsonStreamHandler):
            root.removeHandler(existing)
    # A root handler that already writes JSON (gunicorn's logconfig_dict) would print each
    # line twice if a second one were added; handlers of other kinds (a test runner's) stay.
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = _JsonStreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)


def service_logger(name: str, stream: str = "stdout") -> logging.Logger:
    """For a service that logs its own outcomes (acme, backup): JSON lines on STREAM, its own
    logger NAME at INFO, the libraries' (botocore's credential notes...) from WARNING up."""
    configure_logging("WARNING", stream)
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    return logger


_FORMATTER = JsonFormatter()


def log_event(
    logger: logging.Logger, event: str, outcome: str, message: str, **fields: object
) -> dict[str, Any]:
    """Log one outcome of a service's work (acme's renewals, backup's dumps): ERROR when the
    outcome is ``failure``, INFO otherwise, with ``event`` and ``outcome`` first among the
    fields. Returns the line's fields (acme hands them to the command that asked for it)."""
    level = logging.ERROR if outcome == "failure" else logging.INFO
    extra = {"event": event, "outcome": outcome, **fields}
    record = logger.makeRecord(logger.name, level, "(event)", 0, message, (), None, extra=extra)
    if logger.isEnabledFor(level):
        logger.handle(record)
    return _FORMATTER.fields(record)
