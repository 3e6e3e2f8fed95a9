"""A throwaway Postgres for the unit tests: the stack's own image (compose.yaml's `postgres`,
images.env applied), started with `docker run` the first time a test needs a database, on a
random loopback port, its data in memory, and removed when the test session ends.

One server per session: the xdist controller makes a state directory and hands it to its
workers (tests/unit/conftest.py); the first process that needs a database starts the server
under a file lock and writes where it listens there, the others read it. The process that made
the directory removes the server when it exits; a forked child (mutmut runs each mutant's tests
in one) uses its parent's server and leaves it alone.

Each process gets a database of its own, copied from a template that the migrations brought to
head once, so processes never see each other's rows. The containers carry the label `LABEL`:
`docker ps -a --filter label=flask-stack.unit-postgres` finds those a killed run left behind.

`python -m tests.support.postgres COMMAND...` runs COMMAND with DATABASE_URL naming an empty
database on such a server, removed afterwards (docs/forking.md makes a migration so).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg2
from filelock import FileLock

LABEL = "flask-stack.unit-postgres"
USER = "postgres"
PASSWORD = "unit-tests"  # loopback only, for a server that lives as long as the test session
TEMPLATE = "unit_template"
READY_SECONDS = 120  # a cold start on a loaded machine: initdb, then the server
# Durability is not wanted from a database that is thrown away: no fsync, no full pages.
# Room for the apps a test builds and leaves to the garbage collector, each with its own pool.
SERVER_OPTIONS = (
    "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
    "-c", "max_connections=300",
)  # fmt: skip

_state_dir: Path | None = None
# (pid, port, database) -> the connection that empties it and its batch of statements.
_cleaners: dict[tuple[int, int, str], tuple[Any, str]] = {}


def image() -> str:
    """The stack's Postgres image as Compose resolves it (images.env, .env and the environment
    applied); TEST_POSTGRES_IMAGE names another."""
    override = os.environ.get("TEST_POSTGRES_IMAGE")
    if override:
        return override
    from .settings import compose_config

    name: str = compose_config()["services"]["postgres"]["image"]
    return name


def own_state_dir() -> Path:
    """This process's state directory, made on first call; the server it comes to name is
    removed when this process (not a forked child) exits."""
    global _state_dir
    if _state_dir is None:
        _state_dir = Path(tempfile.mkdtemp(prefix="flask-stack-unit-postgres-"))
        atexit.register(_remove, _state_dir, os.getpid())
    return _state_dir


def _remove(state_dir: Path, owner: int) -> None:
    if os.getpid() != owner:
        return
    server = state_dir / "server.json"
    if server.exists():
        container = json.loads(server.read_text())["container"]
        subprocess.run(["docker", "rm", "-f", "-v", container], capture_output=True, check=False)
    shutil.rmtree(state_dir, ignore_errors=True)


def url(database: str, port: int) -> str:
    return f"postgresql+psycopg2://{USER}:{PASSWORD}@127.0.0.1:{port}/{database}"


def _start(state: Path) -> int:
    """Run the server, noting its container in STATE at once (so it is removed even if it never
    answers), and wait until it answers over TCP; its port."""
    chosen = image()
    if subprocess.run(["docker", "image", "inspect", chosen], capture_output=True).returncode:
        subprocess.run(["docker", "pull", "-q", chosen], capture_output=True, check=True)
    session = uuid.uuid4().hex[:12]
    container = subprocess.run(
        ["docker", "run", "-d", "--name", f"flask-stack-unit-postgres-{session}",
         "--label", f"{LABEL}={session}", "--user", "999:999",
         "-e", f"POSTGRES_USER={USER}", "-e", f"POSTGRES_PASSWORD={PASSWORD}",
         "-e", "POSTGRES_DB=postgres",
         "--tmpfs", "/var/lib/postgresql/data:uid=999,gid=999,mode=0700",
         "--tmpfs", "/var/run/postgresql:uid=999,gid=999",
         "--tmpfs", "/tmp:uid=999,gid=999",
         "-p", "127.0.0.1::5432", chosen, "postgres", *SERVER_OPTIONS],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    state.write_text(json.dumps({"container": container}))
    published = subprocess.run(
        ["docker", "port", container, "5432/tcp"], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    port = int(published.rsplit(":", 1)[1])
    _wait_ready(container, port)
    return port


def _wait_ready(container: str, port: int) -> None:
    """Until a connection succeeds (the entrypoint's init-time server listens on its socket
    only, so a TCP connection reaches the real one); fail at once if the container stopped."""
    deadline = time.monotonic() + READY_SECONDS
    while True:
        try:
            psycopg2.connect(
                host="127.0.0.1", port=port, user=USER, password=PASSWORD, dbname="postgres",
                connect_timeout=2,
            ).close()  # fmt: skip
            return
        except psycopg2.OperationalError:
            state = subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Running}}", container],
                capture_output=True, text=True, check=False,
            ).stdout.strip()  # fmt: skip
            if state != "true" or time.monotonic() > deadline:
                logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
                raise RuntimeError(
                    f"the unit tests' Postgres ({container[:12]}) did not answer:\n"
                    f"{logs.stdout[-2000:]}{logs.stderr[-2000:]}"
                ) from None
            time.sleep(0.1)  # the poll interval of a condition wait


@contextmanager
def _admin(port: int) -> Iterator[psycopg2.extensions.connection]:
    connection = psycopg2.connect(
        host="127.0.0.1", port=port, user=USER, password=PASSWORD, dbname="postgres"
    )
    connection.autocommit = True  # CREATE and DROP DATABASE run outside a transaction
    try:
        yield connection
    finally:
        connection.close()


def create_database(port: int, name: str, template: str = "template0") -> str:
    """A new database NAME (any old one of that name dropped), copied from TEMPLATE."""
    with _admin(port) as connection, connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return url(name, port)


def drop_database(port: int, name: str) -> None:
    with _admin(port) as connection, connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty(port: int, name: str) -> None:
    """Every table of database NAME emptied but the migrations' own, its sequences restarted:
    one batch of DELETEs (no triggers, no foreign keys checked) on a connection kept for the
    process, a few milliseconds where TRUNCATE and a new connection took tens."""
    key = (os.getpid(), port, name)
    if key not in _cleaners:
        connection = psycopg2.connect(
            host="127.0.0.1", port=port, user=USER, password=PASSWORD, dbname=name,
            # A connection a test left in a transaction fails the next test, never hangs it;
            # replica mode (a superuser's) skips the triggers and foreign keys of the deletes.
            options="-c lock_timeout=10s -c session_replication_role=replica",
        )  # fmt: skip
        with connection, connection.cursor() as cursor:
            cursor.execute(
                "SELECT format('DELETE FROM %I', tablename) FROM pg_tables "
                "WHERE schemaname = 'public' AND tablename <> 'alembic_version' "
                "UNION ALL SELECT format('SELECT setval(%L, 1, false)', "
                "format('%I.%I', schemaname, sequencename)) FROM pg_sequences "
                "WHERE schemaname = 'public'"
            )
            batch = "; ".join(row[0] for row in cursor)
        _cleaners[key] = (connection, batch)
    connection, batch = _cleaners[key]
    with connection, connection.cursor() as cursor:
        cursor.execute(batch)


def _forget(port: int, name: str) -> None:
    found = _cleaners.pop((os.getpid(), port, name), None)
    if found is not None:
        found[0].close()


def server(state_dir: Path) -> int:
    """The port of the session's server, started (and its template migrated) if none is yet."""
    state = state_dir / "server.json"
    with FileLock(str(state_dir / "server.lock")):
        if not state.exists():
            port = _start(state)
            _migrate(create_database(port, TEMPLATE))
            state.write_text(json.dumps({**json.loads(state.read_text()), "port": port}))
    found = json.loads(state.read_text())
    if "port" not in found:
        raise RuntimeError("the unit tests' Postgres failed to start earlier in this session")
    port_found: int = found["port"]
    return port_found


def _migrate(database_url: str) -> None:
    """The migrations up to head, by the stack's migration job (in a process of its own, so
    Alembic's logging and imports stay out of the tests')."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "FLASK_CONFIG": "testing", "DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "-m", "app.migration_job"],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode:
        raise RuntimeError(f"the migrations failed:\n{result.stdout}{result.stderr}")


@contextmanager
def process_database(state_dir: Path) -> Iterator[tuple[str, int]]:
    """This process's database (URL, and the server's port) for a test session, copied from
    the template and dropped after: `unit_<pid>`, so the processes of a session (xdist workers,
    mutmut's forked children) never share rows, and a thousand mutants leave no thousand
    databases behind."""
    port = server(state_dir)
    name = f"unit_{os.getpid()}"
    with FileLock(str(state_dir / "server.lock")):  # one copy of the template at a time
        database_url = create_database(port, name, TEMPLATE)
    try:
        yield database_url, port
    finally:
        _forget(port, name)
        drop_database(port, name)


def throwaway_database() -> str:
    """The URL of an empty database on a server of this process's own, removed when the
    process exits."""
    port = _start(own_state_dir() / "server.json")
    return create_database(port, "scratch")


def main(command: list[str]) -> int:
    """COMMAND with DATABASE_URL set to an empty database on a server of its own; its exit
    status."""
    if not command:
        print("usage: python -m tests.support.postgres COMMAND [ARGUMENT...]", file=sys.stderr)
        return 2
    database_url = throwaway_database()
    return subprocess.run(command, env={**os.environ, "DATABASE_URL": database_url}).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
