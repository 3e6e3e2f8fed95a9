"""The migration job, in the detail mutation testing asked for: its one log line, its settings,
how long it waits for the database and what an alembic exit means."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import flask_migrate
import pytest
from sqlalchemy.exc import OperationalError

from app import migration_job
from app.migration_job import MigrationFailed, connect_with_retry, upgrade_to_head

pytestmark = pytest.mark.unit


class Clock:
    """time.monotonic and time.sleep for the job, without waiting."""

    def __init__(self, *readings: float) -> None:
        self.readings = list(readings)
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.readings.pop(0) if self.readings else self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    fake_time = SimpleNamespace(monotonic=fake.monotonic, sleep=fake.sleep)
    monkeypatch.setattr(migration_job, "time", fake_time)
    return fake


def job_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "app.migration_job"]


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, int]]:
    calls: list[tuple[float, int]] = []

    def run(wait_seconds: float, lock_timeout_seconds: int) -> tuple[str, str]:
        calls.append((wait_seconds, lock_timeout_seconds))
        return "0001", "0002"

    monkeypatch.setattr(migration_job, "run", run)
    for name in ("MIGRATE_WAIT_SECONDS", "MIGRATE_LOCK_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_success_is_one_line_with_both_revisions_and_the_duration(
    clock: Clock, runs: list[tuple[float, int]], caplog: pytest.LogCaptureFixture
) -> None:
    clock.readings = [10.0, 10.25]
    caplog.set_level(logging.INFO)
    assert migration_job.main() == 0
    [record] = job_records(caplog)
    assert record.getMessage() == "migrations applied"
    assert record.revision_before == "0001"  # type: ignore[attr-defined]
    assert record.revision == "0002"  # type: ignore[attr-defined]
    assert record.duration_ms == 250  # type: ignore[attr-defined]
    assert runs == [(30, 300)]


def test_the_lock_timeout_is_at_least_one_second(
    runs: list[tuple[float, int]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("MIGRATE_LOCK_TIMEOUT", "1")
    assert migration_job.main() == 0
    assert runs == [(30, 1)]
    monkeypatch.setenv("MIGRATE_LOCK_TIMEOUT", "0")
    caplog.clear()
    assert migration_job.main() == 2
    [record] = job_records(caplog)
    assert record.getMessage() == (
        "invalid configuration: MIGRATE_LOCK_TIMEOUT must be at least 1, got 0"
    )
    assert not record.exc_info  # a refusal needs no traceback


def test_an_unexpected_failure_is_logged_with_its_traceback_and_duration(
    clock: Clock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def run(*_: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(migration_job, "run", run)
    clock.readings = [5.0, 7.0]
    assert migration_job.main() == 1
    [record] = job_records(caplog)
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "migration failed: RuntimeError: boom"
    assert record.exc_info and record.exc_info[0] is RuntimeError
    assert record.duration_ms == 2000  # type: ignore[attr-defined]


def test_alembic_says_only_warnings_during_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_CONFIG", "development")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.delenv("DATABASE_URL_FILE", raising=False)
    alembic = logging.getLogger("alembic")
    monkeypatch.setattr(alembic, "level", logging.NOTSET)
    before, after = migration_job.run(0, 1)
    assert before is None and after is not None
    assert alembic.level == logging.WARNING


class Refusing:
    """An engine that refuses N connections, then connects."""

    def __init__(self, refusals: int, orig: Exception | None) -> None:
        self.refusals = refusals
        self.orig = orig
        self.attempts = 0

    def connect(self) -> str:
        self.attempts += 1
        if self.attempts <= self.refusals:
            raise OperationalError("connect", {}, self.orig)  # type: ignore[arg-type]
        return "connection"


def test_the_job_retries_every_second_until_the_database_answers(clock: Clock) -> None:
    engine = Refusing(2, Exception("the database system is starting up"))
    assert connect_with_retry(engine, 5) == "connection"  # type: ignore[arg-type]
    assert clock.slept == [1.0, 1.0]


def test_the_job_gives_up_at_the_deadline_with_the_first_line_of_the_reason(
    clock: Clock,
) -> None:
    engine = Refusing(99, Exception("could not connect\nIs the server running?"))
    with pytest.raises(MigrationFailed) as caught:
        connect_with_retry(engine, 3)  # type: ignore[arg-type]
    assert str(caught.value) == "database unreachable after 3 s: could not connect"
    assert engine.attempts == 4  # at 0, 1, 2 and 3 seconds


def test_without_a_driver_error_the_reason_is_the_error_type(clock: Clock) -> None:
    with pytest.raises(MigrationFailed, match=r"after 0 s: OperationalError$"):
        connect_with_retry(Refusing(99, None), 0)  # type: ignore[arg-type]


@pytest.mark.parametrize("code", [0, None])
def test_a_clean_alembic_exit_is_success(code: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    def upgrade() -> None:
        raise SystemExit(code)

    monkeypatch.setattr(flask_migrate, "upgrade", upgrade)
    upgrade_to_head()


def test_an_alembic_error_exit_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def upgrade() -> None:
        raise SystemExit(1)

    monkeypatch.setattr(flask_migrate, "upgrade", upgrade)
    with pytest.raises(MigrationFailed) as caught:
        upgrade_to_head()
    assert str(caught.value) == "alembic upgrade failed (see the previous log line)"
