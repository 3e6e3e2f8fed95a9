"""Periodic jobs run once per period, however many schedulers fire them.

The scheduler is one replica, but a deploy, a Swarm reschedule or a second `up` can briefly
run two. Each periodic job first claims its period: the row (job, period) is inserted or
already there, and only the claimant runs.
"""

from __future__ import annotations

import time
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.jobs.schedule import period_of
from app.sql import insert_skipping_duplicates
from app.utc_time import utc_now


class PeriodicRun(db.Model):  # type: ignore[name-defined]
    __tablename__ = "periodic_runs"

    job: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    period: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, default=utc_now, server_default=sa.func.now()
    )


def claim_period(job: str, interval_seconds: int, now: float | None = None) -> int | None:
    """Claim the current period of JOB for this run and commit; None if another run has it."""
    period = period_of(time.time() if now is None else now, interval_seconds)
    inserted = db.session.execute(
        insert_skipping_duplicates(PeriodicRun)
        .values(job=job, period=period)
        .returning(PeriodicRun.period)
    ).first()
    db.session.commit()
    return period if inserted is not None else None
