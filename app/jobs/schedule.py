"""A Celery beat schedule aligned to the wall clock.

``every(3600)`` is due once per hour of the clock (00:00, 01:00, ... UTC), not an hour after
the scheduler happened to start. So two schedulers, or one restarted, pick the same moments,
and the jobs' guard (app/jobs/runs.py) lets one run per period through.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from celery.schedules import schedstate, schedule


def period_of(moment: float, seconds: int) -> int:
    """The number of the SECONDS-long period MOMENT (a Unix time) falls in."""
    return int(moment // seconds)


class every(schedule):  # lower case: reads as a schedule, every(60)
    def __init__(self, seconds: int) -> None:
        super().__init__(timedelta(seconds=seconds))
        self.period_seconds = seconds

    def is_due(self, last_run_at: datetime) -> schedstate:
        now = time.time()
        if last_run_at.tzinfo is None:  # Celery keeps naive times in UTC
            last_run_at = last_run_at.replace(tzinfo=UTC)
        due = period_of(now, self.period_seconds) > period_of(
            last_run_at.timestamp(), self.period_seconds
        )
        next_check = (period_of(now, self.period_seconds) + 1) * self.period_seconds - now
        return schedstate(is_due=due, next=max(next_check, 0.1))

    def __reduce__(self) -> tuple[type, tuple[int]]:
        return self.__class__, (self.period_seconds,)

    def __repr__(self) -> str:
        return f"<every {self.period_seconds}s, on the clock>"
