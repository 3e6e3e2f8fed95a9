"""pyservice.logs.WriterThreadHandler: gunicorn's log handler. Request threads queue their
lines; one writer thread per worker writes them; nothing is lost or cut, and a forked child
writes at once."""

from __future__ import annotations

import io
import json
import logging
import os
import threading

import pytest

from pyservice.logs import JsonFormatter, WriterThreadHandler, start_log_writers

pytestmark = pytest.mark.unit


class GatedStream(io.StringIO):
    """A stdout whose writes wait until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.writes = 0

    def write(self, text: str) -> int:
        assert self.gate.wait(10), "the gate was never opened"
        self.writes += 1
        return super().write(text)


def logger_with(handler: logging.Handler, name: str) -> logging.Logger:
    logger = logging.getLogger(f"tests.log_writer.{name}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def started(handler: WriterThreadHandler) -> WriterThreadHandler:
    """HANDLER with the JSON formatter and its writer thread running."""
    handler.setFormatter(JsonFormatter())
    handler.start_writer()
    return handler


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_before_the_writer_starts_each_line_is_written_at_once() -> None:
    stream = io.StringIO()
    handler = WriterThreadHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger_with(handler, "sync").info("written now")
    assert json_lines(stream.getvalue())[0]["message"] == "written now"


def test_lines_from_many_threads_all_arrive_whole_after_flush() -> None:
    stream = io.StringIO()
    handler = started(WriterThreadHandler(stream))
    logger = logger_with(handler, "threads")

    def log_many(thread: int) -> None:
        for number in range(200):
            logger.info("line", extra={"caller": thread, "number": number})

    threads = [threading.Thread(target=log_many, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handler.flush()
    lines = json_lines(stream.getvalue())
    assert len(lines) == 8 * 200
    for thread in range(8):  # each thread's lines in the order it logged them
        numbers = [line["number"] for line in lines if line["caller"] == thread]
        assert numbers == list(range(200))


def test_a_request_thread_does_not_wait_for_a_slow_stdout() -> None:
    stream = GatedStream()
    handler = started(WriterThreadHandler(stream))
    logger = logger_with(handler, "slow")
    caller = threading.Thread(
        target=lambda: [logger.info("queued", extra={"number": n}) for n in range(50)]
    )
    try:
        caller.start()
        caller.join(5)
        # Every call has returned while stdout still takes nothing.
        assert not caller.is_alive(), "a caller waited for stdout"
        assert stream.getvalue() == ""
    finally:
        stream.gate.set()
        caller.join(10)
    handler.flush()
    lines = json_lines(stream.getvalue())
    assert [line["number"] for line in lines] == list(range(50))
    assert stream.writes < 50, "the writer wrote line by line instead of what was waiting"


def test_a_full_queue_makes_callers_wait_and_drops_nothing() -> None:
    class Small(WriterThreadHandler):
        MAX_QUEUED = 2

    stream = GatedStream()
    handler = started(Small(stream))
    logger = logger_with(handler, "full")
    caller = threading.Thread(
        target=lambda: [logger.info("x", extra={"number": n}) for n in range(6)]
    )
    caller.start()
    caller.join(0.5)
    assert caller.is_alive(), "the caller went on past a full queue"
    stream.gate.set()
    caller.join(10)
    handler.flush()
    assert [line["number"] for line in json_lines(stream.getvalue())] == list(range(6))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_writes_at_once_until_its_own_writer_starts() -> None:
    read_end, write_end = os.pipe()
    handler = started(WriterThreadHandler(io.StringIO()))
    pid = os.fork()
    if pid == 0:  # the child: report what it sees through the pipe, then leave at once
        try:
            child_stream = io.StringIO()
            handler.stream = child_stream
            logger_with(handler, "child").info("from the child")
            written_at_once = "from the child" in child_stream.getvalue()
            os.write(write_end, b"ok" if written_at_once and handler._writer is None else b"no")
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 2)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert answer == b"ok"


def test_start_log_writers_starts_the_root_handlers_writer() -> None:
    stream = io.StringIO()
    handler = WriterThreadHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        start_log_writers()
        assert handler._writer is not None and handler._writer.is_alive()
    finally:
        root.removeHandler(handler)
