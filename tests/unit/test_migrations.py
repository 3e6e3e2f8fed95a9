"""``python -m app.migration_job`` and the migrations, from an empty Postgres database each;
the job's one log line, its settings, how long it waits for the database and what an alembic
exit means."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import OperationalError

from app import migration_job as migrate_job
from app.extensions import db
from app.migration_job import MigrationFailed, connect_with_retry, upgrade_to_head
from tests.support import postgres
from tests.unit.test_errors import UNREACHABLE_POSTGRES

pytestmark = pytest.mark.unit


@pytest.fixture
def empty_url(postgres_server: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty database of this test's own (the migrations start from nothing), dropped
    after; the job connects to it."""
    _, port = postgres_server
    name = f"unit_{os.getpid()}_empty"
    url = postgres.create_database(port, name)
    monkeypatch.setenv("FLASK_CONFIG", "development")
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    postgres.drop_database(port, name)


def head_revision() -> str:
    versions = Path(migrate_job.__file__).parent / "migrations" / "versions"
    return max(path.name.split("_", 1)[0] for path in versions.glob("[0-9]*_*.py"))


def job_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    return [line for line in lines if line["logger"] == "app.migration_job"]


def test_migrate_applies_the_schema_once_and_logs_one_line(
    empty_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert migrate_job.main() == 0
    (first,) = job_lines(capsys)
    assert first["message"] == "migrations applied"
    assert first["revision"] == head_revision()
    assert migrate_job.main() == 0
    (second,) = job_lines(capsys)
    assert second["message"] == "schema already up to date"
    engine = sa.create_engine(empty_url)
    assert "cache_invalidations" in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_migrated_schema_matches_the_models(empty_url: str) -> None:
    assert migrate_job.main() == 0
    engine = sa.create_engine(empty_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
    engine.dispose()
    assert differences == []


def revision_module(prefix: str):
    versions = Path(migrate_job.__file__).parent / "migrations" / "versions"
    (path,) = versions.glob(f"{prefix}_*.py")
    spec = importlib.util.spec_from_file_location(f"revision_{prefix}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migrated_database_counts_the_rows_written_after_it(empty_url: str) -> None:
    assert migrate_job.main() == 0
    engine = sa.create_engine(empty_url)
    insert = sa.text(
        "INSERT INTO items (name, created_at, updated_at) "
        "VALUES (:name, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    with engine.begin() as connection:
        connection.execute(insert, [{"name": "a"}, {"name": "b"}, {"name": "c"}])
        connection.execute(sa.text("DELETE FROM items WHERE name = 'b'"))
        total = connection.execute(sa.text("SELECT sum(n) FROM items_count")).scalar()
    engine.dispose()
    assert total == 2


def test_migrate_fails_clearly_when_the_database_never_answers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLASK_CONFIG", "development")
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE_POSTGRES)
    monkeypatch.setenv("MIGRATE_WAIT_SECONDS", "0")
    assert migrate_job.main() == 1
    (line,) = job_lines(capsys)
    assert line["level"] == "ERROR"
    assert str(line["message"]).startswith("database unreachable after 0 s")


def test_migrate_rejects_invalid_configuration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLASK_CONFIG", "production")
    for name in ("DATABASE_URL", "POSTGRES_PASSWORD", "POSTGRES_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert migrate_job.main() == 2
    (line,) = job_lines(capsys)
    assert "POSTGRES_PASSWORD is missing" in str(line["message"])


def test_migrate_needs_no_secret_key_cache_or_metrics_directory(
    empty_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLASK_CONFIG", "production")
    for name in ("SECRET_KEY", "SECRET_KEY_FILE", "REDIS_URL", "REDIS_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent/metrics")
    assert migrate_job.main() == 0
    (line,) = job_lines(capsys)
    assert line["message"] == "migrations applied"


# --- The job's steps, with its clock and its run replaced ---------------------------------------


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
    monkeypatch.setattr(migrate_job, "time", fake_time)
    return fake


def job_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "app.migration_job"]


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, int]]:
    calls: list[tuple[float, int]] = []

    def run(wait_seconds: float, lock_timeout_seconds: int) -> tuple[str, str]:
        calls.append((wait_seconds, lock_timeout_seconds))
        return "0001", "0002"

    monkeypatch.setattr(migrate_job, "run", run)
    for name in ("MIGRATE_WAIT_SECONDS", "MIGRATE_LOCK_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_success_is_one_line_with_both_revisions_and_the_duration(
    clock: Clock, runs: list[tuple[float, int]], caplog: pytest.LogCaptureFixture
) -> None:
    clock.readings = [10.0, 10.25]
    caplog.set_level(logging.INFO)
    assert migrate_job.main() == 0
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
    assert migrate_job.main() == 0
    assert runs == [(30, 1)]
    monkeypatch.setenv("MIGRATE_LOCK_TIMEOUT", "0")
    caplog.clear()
    assert migrate_job.main() == 2
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

    monkeypatch.setattr(migrate_job, "run", run)
    clock.readings = [5.0, 7.0]
    assert migrate_job.main() == 1
    [record] = job_records(caplog)
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "migration failed: RuntimeError: boom"
    assert record.exc_info and record.exc_info[0] is RuntimeError
    assert record.duration_ms == 2000  # type: ignore[attr-defined]


@pytest.mark.usefixtures("empty_url")
def test_alembic_says_only_warnings_during_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL_FILE", raising=False)
    alembic = logging.getLogger("alembic")
    monkeypatch.setattr(alembic, "level", logging.NOTSET)
    before, after = migrate_job.run(0, 1)
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
