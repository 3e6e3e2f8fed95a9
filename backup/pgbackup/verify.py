"""Verify a dump by restoring it: into a scratch database, then every table of the dump's own
listing must be there with as many rows as the dump's data holds, and the migration version
(alembic_version) must be one row; the scratch database is dropped whatever the outcome."""

from __future__ import annotations

import datetime as dt
import re
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .postgres import environment, psql
from .settings import Settings

# `pg_restore --list`: "215; 1259 16386 TABLE public items app_owner" (the owner may be blank;
# a name may hold spaces: the schema is the first word, the owner the last).
TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (?!DATA )(\S+) (.+) (\S*)$")
DBNAME = re.compile(r"^;\s+dbname: (.*)$")
# `pg_restore --data-only -f -`: COPY public.items (id, name) FROM stdin;
COPY = re.compile(r'^COPY ((?:"(?:[^"]|"")*"|[^ ."]+)\.(?:"(?:[^"]|"")*"|[^ ."]+)) .*FROM stdin;$')
IDENT = re.compile(r'"((?:[^"]|"")*)"|([^."]+)')


class VerifyError(Exception):
    """Why a dump failed verification, as one sentence."""


def plain_command(settings: Settings, path: Path) -> list[str]:
    """The command that writes the plain dump of PATH (decrypted with the service's key)."""
    if path.name.endswith(".age"):
        return ["age", "-d", "-i", settings.identity_file, str(path)]
    return ["cat", str(path)]


def _lines(settings: Settings, path: Path, command: list[str]) -> Iterator[bytes]:
    """COMMAND's output, line by line, with the plain dump of PATH on its stdin; both must
    succeed. Streamed: a dump's data can be far larger than the service's memory limit."""
    with tempfile.TemporaryFile() as source_errors, tempfile.TemporaryFile() as errors:
        source = subprocess.Popen(
            plain_command(settings, path), stdout=subprocess.PIPE, stderr=source_errors
        )
        assert source.stdout is not None
        with subprocess.Popen(
            command, stdin=source.stdout, stdout=subprocess.PIPE, stderr=errors,
            env=environment(settings),
        ) as reader:  # fmt: skip
            source.stdout.close()  # the reader alone holds the pipe: age sees it close
            assert reader.stdout is not None
            yield from reader.stdout
        # A reader that needs only the start (`pg_restore --list` reads the table of contents)
        # closes the pipe early, and age dies of SIGPIPE then: no fault when the reader succeeded.
        status = source.wait()
        if status and not (status == -signal.SIGPIPE and reader.returncode == 0):
            source_errors.seek(0)
            error = source_errors.read().decode(errors="replace").strip()
            raise VerifyError(f"{path.name} cannot be read: {error}.")
        if reader.returncode:
            errors.seek(0)
            lines = errors.read().decode(errors="replace").strip().splitlines()
            raise VerifyError(f"{path.name} is not a complete dump: {lines[-1] if lines else ''}.")


def _through(settings: Settings, path: Path, command: list[str]) -> str:
    """COMMAND's whole output (a short one: a table of contents, pg_restore's messages)."""
    return b"".join(_lines(settings, path, command)).decode(errors="replace")


def _name(qualified: str) -> tuple[str, str]:
    parts = [
        quoted.replace('""', '"') if quoted else bare for quoted, bare in IDENT.findall(qualified)
    ]
    return parts[0], parts[1]


def _quote(schema: str, table: str) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in (schema, table))


def listing(settings: Settings, path: Path) -> tuple[str, list[tuple[str, str]]]:
    """The database the dump is of, and its tables, from its table of contents."""
    database, tables = "", []
    for line in _through(settings, path, ["pg_restore", "--list"]).splitlines():
        if match := DBNAME.match(line):
            database = match.group(1).strip()
        elif match := TABLE.match(line):
            tables.append((match.group(1), match.group(2)))
    return database, tables


def row_counts(settings: Settings, path: Path) -> dict[tuple[str, str], int]:
    """Rows per table in the dump's data (COPY text format: one line per row)."""
    counts: dict[tuple[str, str], int] = {}
    current: tuple[str, str] | None = None
    for line in _lines(settings, path, ["pg_restore", "--data-only", "-f", "-"]):
        if current is None:
            if match := COPY.match(line.decode(errors="replace").rstrip("\n")):
                current = _name(match.group(1))
                counts[current] = 0
        elif line.rstrip(b"\n") == b"\\.":
            current = None
        else:
            counts[current] += 1
    return counts


def verify(settings: Settings, path: Path, now: dt.datetime) -> str:
    """Restore PATH into a scratch database and check it; the migration version it holds."""
    database, tables = listing(settings, path)
    if database != settings.database:
        raise VerifyError(f"{path.name} is a dump of {database!r}, not of {settings.database!r}.")
    if ("public", "alembic_version") not in tables:
        raise VerifyError(f"{path.name} holds no migration version (no alembic_version table).")
    expected = row_counts(settings, path)
    scratch = f"verify_{now:%Y%m%d%H%M%S}"
    psql(settings, f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")
    psql(settings, f"CREATE DATABASE {scratch}")
    try:
        _through(
            settings, path,
            ["pg_restore", "-d", scratch, "--no-owner", "--no-acl", "--single-transaction",
             "--exit-on-error"],
        )  # fmt: skip
        query = " UNION ALL ".join(
            f"SELECT {i}, count(*) FROM {_quote(*table)}" for i, table in enumerate(tables)
        )
        restored = {
            tables[int(i)]: int(n)
            for i, n in (line.split("|") for line in psql(settings, query, scratch).splitlines())
        }
        wrong = [
            f"{schema}.{table} has {restored[(schema, table)]} rows, the dump "
            f"{expected.get((schema, table), 0)}"
            for schema, table in tables
            if restored[(schema, table)] != expected.get((schema, table), 0)
        ]
        if wrong:
            raise VerifyError(f"{path.name} restored with other row counts: {'; '.join(wrong)}.")
        versions = psql(settings, "SELECT version_num FROM alembic_version", scratch).split()
        if len(versions) != 1:
            raise VerifyError(f"{path.name} holds {len(versions)} migration versions, not one.")
        return versions[0]
    finally:
        psql(settings, f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")
