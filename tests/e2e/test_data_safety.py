"""Backups and migrations on the local database: `make restore` refusing bad files, the scheduled
backup service, overlapping migration runs, a database of the older layout. The restore drill
(destroy, up, restore every row) is in test_offsite_backups.py, once for both kinds of dump."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from app.migration_job import ADVISORY_LOCK_ID
from tests.support.edge import BASE
from tests.support.settings import COMPOSE_SH, POSTGRES_USER, ROOT, secret
from tests.support.stack import compose, psql, wait_for

SNAPSHOT = "SELECT id, name, coalesce(description, '<null>'), created_at, updated_at FROM items"


def rows() -> str:
    return psql(f"{SNAPSHOT} ORDER BY id")


@pytest.mark.exclusive
def test_restore_refuses_a_missing_or_foreign_file(http, tmp_path: Path):
    assert http.post(f"{BASE}/api/items", json={"name": "before a refused restore"}).ok
    before = rows()
    missing = subprocess.run(
        ["make", "-s", "restore", "BACKUP=backups/does-not-exist.dump"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode != 0 and "no such file" in missing.stderr
    foreign = tmp_path / "not-a-dump.dump"
    foreign.write_text("SELECT 1;")
    refused = subprocess.run(
        ["make", "-s", "restore", f"BACKUP={foreign}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode != 0 and "not a pg_dump" in refused.stderr
    assert rows() == before, "a refused restore changed the database"


@pytest.fixture
def backup_service():
    env = {"BACKUP_INTERVAL_SECONDS": "2", "BACKUP_KEEP": "2"}
    compose("--profile", "backup", "up", "-d", "--no-deps", "backup", env=env)
    try:
        yield
    finally:
        compose("--profile", "backup", "rm", "-sf", "backup", env=env)


def test_the_backup_service_takes_backups_on_an_interval_and_keeps_a_bounded_number(
    backup_service,
):
    def dumps() -> list[str]:
        out = compose(
            "--profile", "backup", "exec", "-T", "backup", "ls", "/var/lib/postgresql/backups"
        ).stdout
        return [name for name in out.split() if name.endswith(".dump")]

    written: set[str] = set()

    def several_cycles() -> bool:
        current = dumps()
        assert len(current) <= 2, f"more than BACKUP_KEEP dumps kept: {current}"
        written.update(current)
        return len(written) >= 4

    wait_for(several_cycles, 60, 1, "four backups")
    time.sleep(1)
    assert len(dumps()) <= 2


def advisory_waiters(database: str) -> tuple[int, int]:
    """(granted, waiting) advisory locks on DATABASE."""
    rows = psql(
        "SELECT granted, count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
        f"WHERE l.locktype = 'advisory' AND d.datname = '{database}' GROUP BY granted"
    )
    counts = dict(line.split("|") for line in rows.splitlines())
    return int(counts.get("t", 0)), int(counts.get("f", 0))


def new_database(prefix: str) -> str:
    """A new database with the stack's roles and grants (the db-setup job run on it)."""
    database = f"{prefix}_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {database}", "postgres")
    compose("run", "--rm", "--no-deps", "-e", f"POSTGRES_DB={database}", "db-setup")
    return database


def test_overlapping_migration_runs_on_a_new_database_apply_the_schema_once():
    database = new_database("migrate_race")
    # The test holds the migration lock until both runs are waiting on it: they overlap for
    # certain, on a database with no schema yet, so each would create the tables without it.
    hold = f"SELECT pg_advisory_lock({ADVISORY_LOCK_ID}); SELECT pg_sleep(300);"
    holder = subprocess.Popen(
        [str(COMPOSE_SH), "exec", "-T", "postgres", "psql", "-U", POSTGRES_USER,
         "-d", database, "-c", hold],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    runs: list[subprocess.Popen[str]] = []
    try:
        wait_for(lambda: advisory_waiters(database) == (1, 0), 30, 0.5, "the test's lock")
        command = [str(COMPOSE_SH), "run", "--rm", "--no-deps", "-e", f"POSTGRES_DB={database}"]
        runs = [
            subprocess.Popen(
                [*command, "migrate"],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(2)
        ]
        wait_for(lambda: advisory_waiters(database) == (1, 2), 60, 0.5, "both runs waiting")
        psql(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
            f"AND granted AND database = (SELECT oid FROM pg_database WHERE datname = '{database}')"
        )
        outputs = [run.communicate(timeout=180)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        messages = sorted(
            json.loads(line[line.index("{") :])["message"]
            for output in outputs
            for line in output.splitlines()
            if '"app.migration_job"' in line
        )
        assert messages == ["migrations applied", "schema already up to date"], outputs
        assert psql("SELECT count(*) FROM alembic_version", database) == "1"
        assert psql("SELECT count(*) FROM pg_tables WHERE tablename = 'items'", database) == "1"
    finally:
        holder.kill()
        for process in runs:
            process.kill()
        psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)", "postgres")


def test_a_database_of_the_older_layout_is_upgraded_to_the_roles_with_nothing_lost():
    # Before the roles, the superuser owned every table and the app logged in as it.
    database = f"old_layout_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {database}", "postgres")
    try:
        psql("CREATE TABLE items (id bigserial PRIMARY KEY, name varchar(200) NOT NULL); "
             "INSERT INTO items (name) VALUES ('kept one'), ('kept two')", database)  # fmt: skip
        compose("run", "--rm", "--no-deps", "-e", f"POSTGRES_DB={database}", "db-setup")
        assert psql("SELECT tableowner FROM pg_tables WHERE tablename = 'items'", database) == (
            "app_owner"
        )
        reads = compose(
            "exec", "-T", "-e", f"PGPASSWORD={secret('db_app_password')}", "postgres", "psql",
            "-h", "127.0.0.1", "-U", "app_user", "-d", database, "-Atq",
            "-c", "INSERT INTO items (name) VALUES ('new'); SELECT name FROM items ORDER BY id",
        ).stdout.splitlines()  # fmt: skip
        assert reads == ["kept one", "kept two", "new"]
    finally:
        psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)", "postgres")
