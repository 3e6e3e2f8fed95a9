"""Request streams that run beside a deploy or a fault and count every outcome.

Each stream is a thread with no client-side retry. `streams` gives each a `requests` session
(which reconnects by itself when the server closes a connection); `kept_alive_streams` gives
each one connection that is never silently replaced, so a closed connection shows up too.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests

from .edge import BASE, CA_FILE, HOST, new_session
from .settings import HTTPS_PORT

Request = Callable[[requests.Session], requests.Response]


def read_page(session: requests.Session) -> requests.Response:
    return session.get(f"{BASE}/api/items?limit=5", timeout=30)


def create_item(session: requests.Session) -> requests.Response:
    return session.post(f"{BASE}/api/items", json={"name": "stream"}, timeout=30)


class Outcomes:
    """Status codes and error names, counted under a lock (several threads add to it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, outcome: str) -> None:
        with self._lock:
            self._counts[outcome] += 1

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)

    @property
    def total(self) -> int:
        return sum(self.snapshot().values())

    def failures(self, ok: tuple[str, ...] = ("200", "201")) -> dict[str, int]:
        return {k: v for k, v in self.snapshot().items() if k not in ok}


@contextmanager
def streams(
    requests_: list[Request],
    pause: float = 0.0,
    max_seconds: float = 600,
    retry_on_429: bool = False,
) -> Iterator[Outcomes]:
    """Run one thread per request function until the block ends (or MAX_SECONDS pass). With
    RETRY_ON_429, clients honour the edge's Retry-After; nothing else is ever retried."""
    outcomes = Outcomes()
    stop = threading.Event()
    deadline = time.monotonic() + max_seconds

    def stream(send: Request) -> None:
        with new_session(retry_on_429=retry_on_429) as session:
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    outcomes.add(str(send(session).status_code))
                except requests.RequestException as error:
                    outcomes.add(f"error: {type(error).__name__}")
                if pause:
                    time.sleep(pause)

    with _one_thread_each(stream, requests_, stop):
        yield outcomes


class KeptAlive:
    """One keep-alive HTTPS connection to the edge that is never silently replaced: a request
    the server answers by closing it (a reset, an empty answer, or `Connection: close`) raises
    ConnectionClosed, where a `requests` session would reconnect without a word."""

    # Fewer than nginx's keepalive_requests (1 000), after which nginx closes a connection by
    # design: the client opens a new one itself before that, as browsers do.
    RENEW_AFTER = 900

    def __init__(self) -> None:
        self.opened = 0
        self._connection: http.client.HTTPSConnection | None = None
        self._used = 0

    def _open(self) -> http.client.HTTPSConnection:
        if self._connection is None or self._used >= self.RENEW_AFTER:
            if self._connection is not None:
                self._connection.close()
            context = ssl.create_default_context(cafile=CA_FILE)
            self._connection = http.client.HTTPSConnection(HOST, HTTPS_PORT, context=context,
                                                           timeout=30)  # fmt: skip
            self._connection.auto_open = 0  # never reconnect behind the test's back
            self._connection.connect()
            self.opened += 1
            self._used = 0
        return self._connection

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        connection = self._open()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        payload = json.dumps(body).encode() if body is not None else None
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            self._connection = None
            raise ConnectionClosed(f"{type(error).__name__}: {error}") from error
        self._used += 1
        if response.will_close and self._used < self.RENEW_AFTER:
            self._connection = None
            raise ConnectionClosed(f"the server closed the connection after {response.status}")
        return response.status, data

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


class ConnectionClosed(Exception):
    """The server closed a kept-alive connection the client still meant to use."""


KeptAliveRequest = Callable[[KeptAlive], int]


@contextmanager
def kept_alive_streams(
    requests_: list[KeptAliveRequest], max_seconds: float = 600
) -> Iterator[Outcomes]:
    """One thread per request function, each on its own keep-alive connection, until the block
    ends (or MAX_SECONDS pass). A failure is counted, never retried: a connection the server
    closed counts as `closed: ...` and the stream goes on with a new one."""
    outcomes = Outcomes()
    stop = threading.Event()
    deadline = time.monotonic() + max_seconds

    def stream(send: KeptAliveRequest) -> None:
        client = KeptAlive()
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    outcomes.add(str(send(client)))
                except ConnectionClosed as error:
                    outcomes.add(f"closed: {error}")
                except Exception as error:  # every outcome is counted, none ends the stream
                    outcomes.add(f"error: {type(error).__name__}: {error}")
        finally:
            client.close()

    with _one_thread_each(stream, requests_, stop):
        yield outcomes


@contextmanager
def _one_thread_each(stream: Callable[[Any], None], senders: list, stop: threading.Event
                     ) -> Iterator[None]:  # fmt: skip
    """STREAM(sender) in a thread of its own for each sender, until the block ends; then STOP
    is set and the threads are given a minute to finish."""
    threads = [threading.Thread(target=stream, args=(send,), daemon=True) for send in senders]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
