""".env.example lists every variable the stack reads, so a fork adds a setting in two places:
its definition (with its default) and its line there."""

from __future__ import annotations

import os
import re
import runpy
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from acmeloop.core import Settings
from pgbackup.settings import Settings as BackupSettings

from app import migration_job
from app.config import get_config

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
# Enough for a strict production config to load.
REQUIRED = {"SECRET_KEY": "k" * 48, "POSTGRES_PASSWORD": "a-real-password"}


class RecordingEnviron(dict[str, str]):
    """An environment that remembers every name looked up in it."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


def documented() -> set[str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return {m.group(1) for line in lines if (m := re.match(r"^#? ?([A-Z][A-Z0-9_]*)=", line))}


def read_by_the_app() -> set[str]:
    environ = RecordingEnviron({"FLASK_CONFIG": "production", **REQUIRED})
    get_config(environ=environ)
    return environ.read


def read_by_gunicorn(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    environ = RecordingEnviron(dict(REQUIRED))
    monkeypatch.setattr(os, "environ", environ)
    runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return environ.read


def read_by_the_migration_job(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    environ = RecordingEnviron(dict(REQUIRED))
    monkeypatch.setattr(os, "environ", environ)
    monkeypatch.setattr(migration_job, "run", lambda *_: ("0001", "0001"))
    assert migration_job.main() == 0
    return environ.read


def read_by_the_acme_client() -> set[str]:
    environ = RecordingEnviron({})
    Settings.from_environ(environ)
    return environ.read


def read_by_the_backup_service() -> set[str]:
    environ = RecordingEnviron({})
    BackupSettings.from_environ(environ)
    return environ.read


def shell_variables(path: str) -> Iterator[str]:
    """Names a shell script expands with a default (${NAME:-...}) or requires (${NAME})."""
    text = (ROOT / path).read_text()
    yield from re.findall(r"\$\{([A-Z][A-Z0-9_]*)(?::-|:\?|\})", text)


def compose_variables(path: str = "compose.yaml") -> set[str]:
    text = (ROOT / path).read_text()
    # $${NAME} is the container's own variable, escaped from Compose.
    return set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)(?::-|:\?|\})", text))


SCRIPTS = [
    "scripts", "tools", "deploy/swarm", "deploy/k8s", "offline-images", "alertmanager", "nginx",
    "postgres", "redis", "prometheus", "blackbox",
]  # fmt: skip


def script_variables() -> set[str]:
    """Names the host-side scripts and the images' entrypoints read with a default."""
    return {
        name
        for folder in SCRIPTS
        for path in sorted((ROOT / folder).glob("*.sh"))
        for name in shell_variables(str(path.relative_to(ROOT)))
    }


def test_every_variable_the_stack_reads_is_in_env_example(monkeypatch: pytest.MonkeyPatch):
    read = (
        read_by_the_app()
        | read_by_gunicorn(monkeypatch)
        | read_by_the_migration_job(monkeypatch)
        | read_by_the_acme_client()
        | read_by_the_backup_service()
        | script_variables()
        | compose_variables()
        | compose_variables("deploy/swarm/compose.swarm.yaml")
        | compose_variables("compose.syslog.yaml")
    )
    # A secret is read from NAME_FILE (documented, as wiring) or NAME: never a line in .env.
    secrets = {name for name in read if f"{name}_FILE" in read}
    missing = sorted(read - secrets - documented())
    assert not missing, f"add these to .env.example: {missing}"


def test_the_recording_sees_what_each_reader_reads(monkeypatch: pytest.MonkeyPatch):
    # Guards the test above against recording nothing.
    assert {"DB_POOL_SIZE", "PROXY_FIX_X_PREFIX", "SENTRY_DSN_FILE"} <= read_by_the_app()
    assert {"GUNICORN_WORKERS", "GUNICORN_THREADS"} <= read_by_gunicorn(monkeypatch)
    assert "MIGRATE_LOCK_TIMEOUT" in read_by_the_migration_job(monkeypatch)
    assert {"RATE_BURST", "ALERT_GROUP_WAIT", "SWARM_STACK"} <= script_variables()
    assert "HTTPS_PORT" in compose_variables()
    assert {"SERVER_NAME", "ACME_EMAIL", "ACME_RETRY_INTERVAL"} <= read_by_the_acme_client()
    assert {"BACKUP_S3_BUCKET", "BACKUP_KEEP_WEEKLY"} <= read_by_the_backup_service()


def test_the_defaults_env_example_states_are_the_acme_clients():
    documented = documented_defaults()
    default = Settings.from_environ({})
    # The wiring (ACME_STATE_DIR and the like) is compose.yaml's, not a default of .env.example.
    names = [n for n in read_by_the_acme_client() if n.startswith("ACME_") and n in documented]
    assert len(names) >= 8
    for name in names:
        value = documented[name]
        assert Settings.from_environ({name: value}) == default, f"{name}={value} is not the default"


def documented_defaults() -> dict[str, str]:
    """`# NAME=value` lines of .env.example above its wiring section: the defaults it states."""
    text = (ROOT / ".env.example").read_text().split("# --- Wiring")[0]
    return {
        m.group(1): m.group(2)
        for line in text.splitlines()
        if (m := re.match(r"^# ([A-Z][A-Z0-9_]*)=(.*)$", line))
    }


def snapshot_of_config(environ: dict[str, str]) -> dict[str, object]:
    config = get_config(environ=environ)
    # A testing-only random key aside, two configs from equal settings are equal.
    return {k: v for k, v in vars(config).items() if k != "SECRET_KEY"}


def snapshot_of_gunicorn(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> dict:
    monkeypatch.setattr(os, "environ", dict(environ))
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return {k: v for k, v in settings.items() if isinstance(v, int | float | str | bool)}


def test_the_defaults_env_example_states_are_the_apps_and_gunicorns(
    monkeypatch: pytest.MonkeyPatch,
):
    base = {"FLASK_CONFIG": "production", **REQUIRED}
    app_reads, gunicorn_reads = read_by_the_app(), read_by_gunicorn(monkeypatch)
    # Compose sets these in the app's environment itself: a .env value never reaches the app
    # (POSTGRES_USER in .env names the superuser; the app logs in as app_user).
    wired = set(yaml.safe_load((ROOT / "compose.yaml").read_text())["x-app-wiring"])
    config, server = snapshot_of_config(base), snapshot_of_gunicorn(monkeypatch, base)
    checked = 0
    for name, value in documented_defaults().items():
        if not value:
            continue
        changed = {**base, name: value}
        if name in app_reads and name not in wired:
            assert snapshot_of_config(changed) == config, f"{name}={value} is not the default"
            checked += 1
        if name in gunicorn_reads:
            assert snapshot_of_gunicorn(monkeypatch, changed) == server, f"{name}={value}"
            checked += 1
    assert checked >= 30, "the comparison checked too few defaults to prove anything"


DEFAULT = re.compile(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*):-([^}]*)\}")


@pytest.mark.parametrize(
    "path",
    [
        "compose.yaml",
        "deploy/swarm/compose.swarm.yaml",
        *(f"{folder}/{p.name}" for folder in SCRIPTS for p in sorted((ROOT / folder).glob("*.sh"))),
    ],
)
def test_the_defaults_env_example_states_are_the_files(path: str):
    documented = documented_defaults()
    for name, default in DEFAULT.findall((ROOT / path).read_text()):
        if name in documented and default and not default.startswith("$"):
            assert documented[name] == default, f"{path}: {name} defaults to {default!r}"
