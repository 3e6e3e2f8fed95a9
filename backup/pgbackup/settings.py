"""The service's settings, from its environment (compose.yaml sets them; .env.example lists
them with their defaults)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path


class SettingsError(Exception):
    """A setting the service cannot work with."""


def _int(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = environ.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    return value


def read_secret(path: str) -> str:
    """A secret file's content without surrounding whitespace; blank when it does not exist."""
    try:
        return Path(path).read_text().strip()
    except FileNotFoundError:
        return ""


@dataclasses.dataclass(frozen=True)
class Settings:
    host: str
    database: str
    user: str
    password_file: str
    directory: Path
    interval: int
    keep_local: int
    verify_interval: int
    recipient: str
    identity_file: str
    bucket: str
    prefix: str
    endpoint_url: str
    region: str
    keep_daily: int
    keep_weekly: int
    metrics_port: int

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        recipient = environ.get("BACKUP_AGE_RECIPIENT", "").strip()
        bucket = environ.get("BACKUP_S3_BUCKET", "").strip()
        if recipient and not recipient.startswith("age1"):
            raise SettingsError("BACKUP_AGE_RECIPIENT must be an age public key (age1...)")
        if bucket and not recipient:
            raise SettingsError(
                "BACKUP_S3_BUCKET is set but BACKUP_AGE_RECIPIENT is not: dumps leave the host "
                "encrypted only"
            )
        return cls(
            host=environ.get("POSTGRES_HOST", "postgres"),
            database=environ.get("POSTGRES_DB", "app"),
            user=environ.get("POSTGRES_USER", "postgres"),
            password_file=environ.get("POSTGRES_PASSWORD_FILE", "/run/secrets/postgres_password"),
            directory=Path(environ.get("BACKUP_DIR", "/var/lib/postgresql/backups")),
            interval=_int(environ, "BACKUP_INTERVAL_SECONDS", 86400, 1),
            keep_local=_int(environ, "BACKUP_KEEP", 7, 1),
            verify_interval=_int(environ, "BACKUP_VERIFY_INTERVAL_SECONDS", 86400, 0),
            recipient=recipient,
            identity_file=environ.get(
                "BACKUP_AGE_IDENTITY_FILE", "/run/secrets/backup_age_identity"
            ),
            bucket=bucket,
            prefix=environ.get("BACKUP_S3_PREFIX", "").strip(),
            endpoint_url=environ.get("BACKUP_S3_ENDPOINT_URL", "").strip(),
            region=environ.get("BACKUP_S3_REGION", "").strip() or "us-east-1",
            keep_daily=_int(environ, "BACKUP_KEEP_DAILY", 7, 1),
            keep_weekly=_int(environ, "BACKUP_KEEP_WEEKLY", 5, 0),
            metrics_port=_int(environ, "BACKUP_METRICS_PORT", 9100, 1),
        )
