"""Healthchecks of the job services, run by Docker in their containers:

  python -m app.jobs.healthcheck worker     this container's worker answers a ping sent
                                            through the broker: it is connected and its
                                            consumer takes messages, not merely alive
  python -m app.jobs.healthcheck broker     the broker answers (the scheduler's check)

Exit 0 when healthy, 1 (with one line on stderr) when not. Reads the broker settings alone.
"""

from __future__ import annotations

import socket
import sys

from app.config import get_config
from app.jobs import make_celery

TIMEOUT_SECONDS = 3.0


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "worker"
    celery = make_celery(get_config(jobs_only=True))
    try:
        if what == "broker":
            with celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=TIMEOUT_SECONDS)
            return 0
        name = f"celery@{socket.gethostname()}"
        # limit=1: back as soon as this worker answers, not after the whole timeout.
        replies = celery.control.ping(destination=[name], timeout=TIMEOUT_SECONDS, limit=1)
    except Exception as error:  # any failure is "unhealthy", said in one line
        print(f"healthcheck: the broker is unreachable ({type(error).__name__})", file=sys.stderr)
        return 1
    if not any(name in reply for reply in replies):
        print(f"healthcheck: {name} did not answer a ping through the broker", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
