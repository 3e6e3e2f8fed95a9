"""Request streams that run beside a deploy or a fault and count every outcome.

Each stream is a thread with its own keep-alive session and no client-side retry, so a closed
connection or a 5xx shows up as what it is.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import requests

from .edge import BASE, new_session

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

    threads = [threading.Thread(target=stream, args=(send,), daemon=True) for send in requests_]
    for thread in threads:
        thread.start()
    try:
        yield outcomes
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
