"""Take a backup: pg_dump (custom format) piped into age for the public key, so the plain dump
never touches the disk; the file appears under its name only once complete. Then the `backups`
volume keeps the newest BACKUP_KEEP."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from .postgres import environment
from .retention import taken_at
from .settings import Settings


class DumpError(Exception):
    pass


def file_name(settings: Settings, now: dt.datetime) -> str:
    suffix = ".dump.age" if settings.recipient else ".dump"
    return f"{settings.database}-{now:%Y%m%dT%H%M%SZ}{suffix}"


def take(settings: Settings, now: dt.datetime) -> Path:
    settings.directory.mkdir(mode=0o700, exist_ok=True)
    path = settings.directory / file_name(settings, now)
    partial = path.with_name(path.name + ".partial")
    command = ["pg_dump", "-d", settings.database, "--format=custom"]
    try:
        with partial.open("wb") as out:
            partial.chmod(0o600)
            if not settings.recipient:
                code = subprocess.run(command, stdout=out, env=environment(settings)).returncode
                codes = {"pg_dump": code}
            else:
                dump = subprocess.Popen(command, stdout=subprocess.PIPE, env=environment(settings))
                assert dump.stdout is not None
                age = subprocess.run(
                    ["age", "-r", settings.recipient], stdin=dump.stdout, stdout=out
                )
                dump.stdout.close()
                codes = {"pg_dump": dump.wait(), "age": age.returncode}
        failed = [f"{tool} exited {code}" for tool, code in codes.items() if code]
        if failed:
            raise DumpError(", ".join(failed))
        partial.rename(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def local_dumps(settings: Settings) -> list[Path]:
    """The complete dumps in the volume, oldest first."""
    found = [p for p in settings.directory.glob("*.dump*") if taken_at(p.name) is not None]
    return sorted(found, key=lambda p: (taken_at(p.name), p.name))


def prune_local(settings: Settings) -> list[Path]:
    dumps = local_dumps(settings)
    removed = dumps[: max(0, len(dumps) - settings.keep_local)]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed
