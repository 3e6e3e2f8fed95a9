"""Status: what the metrics and the next attempt are computed from, in the state volume (a
forced renewal runs in another process than the loop's, and both must see the same)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator

from .settings import Settings


def read_status(settings: Settings) -> dict:
    try:
        status: dict = json.loads(settings.status_file.read_text())
    except (OSError, ValueError):
        status = {}
    status.setdefault("renewals", {})
    return status


def write_status(settings: Settings, status: dict) -> None:
    temporary = settings.status_file.with_suffix(".json.new")
    temporary.write_text(json.dumps(status, sort_keys=True))
    os.replace(temporary, settings.status_file)


@contextlib.contextmanager
def locked(settings: Settings) -> Iterator[None]:
    """One certbot run at a time: the loop's and a forced renewal's."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.state_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def next_attempt_in(settings: Settings, failures: int) -> float:
    """Seconds until the next cycle: the check interval after a success; after failures, 1, 2,
    4, ... minutes up to ACME_RETRY_INTERVAL (a DNS record or a port just being set up gets a
    prompt retry, and a CA's limit on failed validations is not run into)."""
    if failures == 0:
        return settings.check_interval
    return min(settings.retry_interval, 60.0 * 2 ** min(failures - 1, 20))
