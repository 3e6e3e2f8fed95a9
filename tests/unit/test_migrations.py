"""``python -m app.migration_job`` and the initial migration, on SQLite files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from app import migration_job as migrate_job
from app.extensions import db
from app.items import counter
from tests.unit.test_errors import UNREACHABLE_POSTGRES

pytestmark = pytest.mark.unit


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("FLASK_CONFIG", "development")
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def head_revision() -> str:
    versions = Path(migrate_job.__file__).parent / "migrations" / "versions"
    return max(path.name.split("_", 1)[0] for path in versions.glob("[0-9]*_*.py"))


def job_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    return [line for line in lines if line["logger"] == "app.migration_job"]


def test_migrate_applies_the_schema_once_and_logs_one_line(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert migrate_job.main() == 0
    (first,) = job_lines(capsys)
    assert first["message"] == "migrations applied"
    assert first["revision"] == head_revision()
    assert migrate_job.main() == 0
    (second,) = job_lines(capsys)
    assert second["message"] == "schema already up to date"
    engine = sa.create_engine(sqlite_url)
    assert "items" in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_migrated_schema_matches_the_models(sqlite_url: str) -> None:
    assert migrate_job.main() == 0
    engine = sa.create_engine(sqlite_url)
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


def test_the_counters_triggers_are_the_ones_the_latest_revision_installs() -> None:
    """Revision 0004 holds its own copy of the triggers (a revision must not change with the
    app's code). When counter.py's change, this fails: write a revision that installs them,
    and compare against that one here."""
    revision = revision_module("0004")
    assert counter.POSTGRES_DDL == revision.POSTGRES_DDL
    assert counter.SQLITE_DDL == revision.SQLITE_DDL


def test_the_migrated_database_counts_the_rows_written_after_it(sqlite_url: str) -> None:
    assert migrate_job.main() == 0
    engine = sa.create_engine(sqlite_url)
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
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLASK_CONFIG", "production")
    for name in ("SECRET_KEY", "SECRET_KEY_FILE", "REDIS_URL", "REDIS_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent/metrics")
    assert migrate_job.main() == 0
    (line,) = job_lines(capsys)
    assert line["message"] == "migrations applied"
