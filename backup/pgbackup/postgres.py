"""The database through the Postgres client tools (pg_dump, pg_restore, psql) of the image,
as the superuser whose password is the service's secret (a secret file that cannot be read is
an error naming POSTGRES_PASSWORD_FILE, not an empty password)."""

from __future__ import annotations

import os
import subprocess

from pyservice.settings import read_secret

from .settings import Settings


def environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "PGHOST": settings.host,
        "PGUSER": settings.user,
        "PGPASSWORD": read_secret(settings.password_file, "POSTGRES_PASSWORD_FILE") or "",
        "PGCONNECT_TIMEOUT": "10",
    }


def psql(settings: Settings, sql: str, database: str = "postgres") -> str:
    result = subprocess.run(
        ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-Atq", "-d", database, "-c", sql],
        env=environment(settings), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if result.returncode:
        raise RuntimeError(result.stderr.strip() or f"psql exited {result.returncode}")
    return result.stdout
