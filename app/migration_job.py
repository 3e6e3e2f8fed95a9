"""Apply the database migrations: ``python -m app.migration_job`` (a one-shot job, never a
worker). It builds a database-only app: no secret key, cache or metrics directory needed.

Waits up to MIGRATE_WAIT_SECONDS [30] for the database to accept connections, then holds a
Postgres advisory lock on a connection of its own while ``flask_migrate.upgrade()`` runs, so
overlapping runs apply each revision once: the second waits (up to MIGRATE_LOCK_TIMEOUT [300]
seconds), then finds the schema at head and does nothing. Logs one JSON line; exits 0 on
success, 1 on failure and 2 on invalid configuration.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import flask_migrate
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from app import create_database_app
from app.config import ConfigError
from app.extensions import db
from app.logs import configure_logging
from pyservice.settings import Env

# "flaskst" in ASCII: any fixed bigint works as long as every run of this app uses the same.
ADVISORY_LOCK_ID = 0x666C61736B7374
RETRY_INTERVAL_SECONDS = 1.0

log = logging.getLogger("app.migration_job")


class MigrationFailed(Exception):
    """A failure with a message fit for the one log line."""


def connect_with_retry(engine: Engine, wait_seconds: float) -> Connection:
    """A connection, retrying while the database is still starting."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return engine.connect()
        except OperationalError as exc:
            if time.monotonic() >= deadline:
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
                raise MigrationFailed(
                    f"database unreachable after {wait_seconds:g} s: {reason}"
                ) from exc
            time.sleep(RETRY_INTERVAL_SECONDS)


@contextmanager
def advisory_lock(connection: Connection, lock_timeout_seconds: int) -> Iterator[None]:
    """Hold the migration lock on CONNECTION."""
    connection.execute(sa.text(f"SET lock_timeout = '{int(lock_timeout_seconds)}s'"))
    try:
        connection.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": ADVISORY_LOCK_ID})
    except OperationalError as exc:
        raise MigrationFailed(
            f"another migration held the lock for more than {lock_timeout_seconds} s"
        ) from exc
    try:
        yield
    finally:
        connection.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": ADVISORY_LOCK_ID})


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head() -> None:
    try:
        flask_migrate.upgrade()
    except SystemExit as exc:  # Flask-Migrate logs the cause and exits on alembic errors
        if exc.code not in (0, None):
            raise MigrationFailed("alembic upgrade failed (see the previous log line)") from exc


def run(wait_seconds: float, lock_timeout_seconds: int) -> tuple[str | None, str | None]:
    """Migrate the database of a freshly built app; return the revisions before and after."""
    app = create_database_app()
    # The job logs one line; alembic's per-step chatter stays below WARNING.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with app.app_context():
        engine = db.engine
        lock_connection = connect_with_retry(engine, wait_seconds).execution_options(
            isolation_level="AUTOCOMMIT"
        )
        try:
            with advisory_lock(lock_connection, lock_timeout_seconds):
                before = current_revision(engine)
                upgrade_to_head()
                after = current_revision(engine)
        finally:
            lock_connection.close()
            engine.dispose()
    return before, after


def main() -> int:
    started = time.monotonic()
    try:
        env = Env(os.environ)
        wait_seconds = env.int("MIGRATE_WAIT_SECONDS", 30)
        lock_timeout_seconds = env.int("MIGRATE_LOCK_TIMEOUT", 300, minimum=1)
        before, after = run(wait_seconds, lock_timeout_seconds)
    except ConfigError as exc:
        _log_failure(f"invalid configuration: {exc}", started)
        return 2
    except MigrationFailed as exc:
        _log_failure(str(exc), started)
        return 1
    except Exception as exc:
        _log_failure(f"migration failed: {type(exc).__name__}: {exc}", started, trace=True)
        return 1
    log.info(
        "migrations applied" if before != after else "schema already up to date",
        extra={"revision_before": before, "revision": after, "duration_ms": _elapsed_ms(started)},
    )
    return 0


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _log_failure(message: str, started: float, trace: bool = False) -> None:
    configure_logging(logging.getLevelName(logging.getLogger().getEffectiveLevel()))
    log.error(message, exc_info=trace, extra={"duration_ms": _elapsed_ms(started)})


if __name__ == "__main__":
    sys.exit(main())
