"""The service's settings, from its environment (compose.yaml sets them; .env.example lists
them with their defaults), read as every Python service of the stack reads them
(pyservice/settings.py)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from pyservice.settings import Env, SettingsError

__all__ = ["Settings", "SettingsError"]


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
        env = Env(environ)
        recipient = env.str("BACKUP_AGE_RECIPIENT", "")
        bucket = env.str("BACKUP_S3_BUCKET", "")
        if recipient and not recipient.startswith("age1"):
            raise SettingsError("BACKUP_AGE_RECIPIENT must be an age public key (age1...)")
        if bucket and not recipient:
            raise SettingsError(
                "BACKUP_S3_BUCKET is set but BACKUP_AGE_RECIPIENT is not: dumps leave the host "
                "encrypted only"
            )
        return cls(
            host=env.str("POSTGRES_HOST", "postgres"),
            database=env.str("POSTGRES_DB", "app"),
            user=env.str("POSTGRES_USER", "postgres"),
            password_file=env.str("POSTGRES_PASSWORD_FILE", "/run/secrets/postgres_password"),
            directory=Path(env.str("BACKUP_DIR", "/var/lib/postgresql/backups")),
            interval=env.int("BACKUP_INTERVAL_SECONDS", 86400, minimum=1),
            keep_local=env.int("BACKUP_KEEP", 7, minimum=1),
            verify_interval=env.int("BACKUP_VERIFY_INTERVAL_SECONDS", 86400, minimum=0),
            recipient=recipient,
            identity_file=env.str("BACKUP_AGE_IDENTITY_FILE", "/run/secrets/backup_age_identity"),
            bucket=bucket,
            prefix=env.str("BACKUP_S3_PREFIX", ""),
            endpoint_url=env.str("BACKUP_S3_ENDPOINT_URL", ""),
            region=env.str("BACKUP_S3_REGION", "us-east-1"),
            keep_daily=env.int("BACKUP_KEEP_DAILY", 7, minimum=1),
            keep_weekly=env.int("BACKUP_KEEP_WEEKLY", 5, minimum=0),
            metrics_port=env.int("BACKUP_METRICS_PORT", 9100, minimum=1, maximum=65535),
        )
