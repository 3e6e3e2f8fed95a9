"""The app image on its own: refuses weak secrets, ships nothing it should not, reports errors."""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.support.settings import APP_IMAGE, secret
from tests.support.stack import capture_server, captured, docker, inspect, psql

IMAGE = APP_IMAGE


def run_app(*env: str) -> subprocess.CompletedProcess:
    """Start the production image with only `env` set and return how gunicorn ended."""
    flags = [item for pair in (("-e", e) for e in env) for item in pair]
    # Named, so that an image that starts serving instead (the test fails by the timeout) is
    # not left running.
    name = f"app-image-check-{uuid.uuid4().hex[:8]}"
    try:
        return docker(
            "run", "--rm", "--name", name, "--network", "none", "--read-only", "--tmpfs", "/tmp",
            *flags, IMAGE, check=False, timeout=60,
        )  # fmt: skip
    finally:
        docker("rm", "-f", name, check=False)


@pytest.mark.parametrize(
    ("secret_env", "expected"),
    [
        (None, "SECRET_KEY"),
        ("SECRET_KEY=too-short-for-production", "SECRET_KEY"),
        ("SECRET_KEY=change-me-change-me-change-me-change-me", "SECRET_KEY"),
        ("SECRET_KEY=" + "x" * 31, "SECRET_KEY"),
    ],
)
def test_production_refuses_to_start_with_a_missing_short_or_placeholder_secret(
    secret_env, expected
):
    env = ["POSTGRES_PASSWORD=unused-password-for-this-check"]
    if secret_env:
        env.append(secret_env)
    result = run_app(*env)
    assert result.returncode != 0, "gunicorn started with a weak SECRET_KEY"
    error_lines = [line for line in result.stderr.splitlines() if expected in line]
    assert error_lines, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "Booting worker" not in result.stdout + result.stderr, "a worker served first"


@pytest.mark.parametrize("flask_config", ["development", "testing"])
def test_the_production_image_never_runs_with_debug_on_whatever_the_environment(flask_config):
    """.env is every service's environment under `make up`: FLASK_CONFIG=development there
    still cannot start the production image with debug on (`make dev` builds another)."""
    result = run_app(
        f"FLASK_CONFIG={flask_config}",
        f"SECRET_KEY={secrets.token_urlsafe(48)}",
        "POSTGRES_PASSWORD=unused-password-for-this-check",
    )
    assert result.returncode == 78, result.stdout[-1000:] + result.stderr[-2000:]
    assert f"FLASK_CONFIG={flask_config} cannot run in the production image" in result.stderr
    assert "Booting worker" not in result.stdout + result.stderr, "a worker served first"
    # The worker's and the shell's way in refuse it too, and the dev servers are not there.
    probe = docker(
        "run", "--rm", "--network", "none", "--read-only", "-e", f"FLASK_CONFIG={flask_config}",
        "--entrypoint", "python", IMAGE, "-c",
        "import os; from app.config import ConfigError, get_config\n"
        "try:\n    get_config()\nexcept ConfigError as e:\n    print('refused:', e)\n"
        "print('dev servers:', os.path.exists('/app/dev'))",
    ).stdout  # fmt: skip
    assert "refused: FLASK_CONFIG=" in probe
    assert "dev servers: False" in probe


def test_the_image_holds_no_secrets_compilers_tests_or_env_files():
    script = (
        "for tool in gcc cc g++ make; do command -v $tool && exit 10; done; "
        "find / -xdev \\( -name '.env' -o -name '*.pem' -path '/app/*' -o -name 'secrets' "
        "-path '/app/*' -o -name tests -path '/app/*' \\) -print 2>/dev/null | grep . && exit 11; "
        "exit 0"
    )
    result = docker("run", "--rm", "--entrypoint", "sh", IMAGE, "-c", script, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    user = docker("image", "inspect", "-f", "{{.Config.User}}", IMAGE).stdout.strip()
    assert user and not user.startswith(("0", "root")), user


@pytest.fixture
def sentry_capture() -> Iterator[tuple[str, str]]:
    """A capture server standing in for Sentry, and an app whose database has no tables,
    both on the stack's backend network; yields (app container, capture container)."""
    network = next(n for n in inspect("postgres")["NetworkSettings"]["Networks"])
    suffix = uuid.uuid4().hex[:8]
    capture, probe = f"sentry-capture-{suffix}", f"sentry-probe-{suffix}"
    if psql("SELECT 1 FROM pg_database WHERE datname = 'sentry_probe'", "postgres") != "1":
        psql("CREATE DATABASE sentry_probe", "postgres")
    # The app's own role, as the stack's app logs in (it may connect to a new database).
    password = secret("db_app_password")
    stack = contextlib.ExitStack()
    stack.enter_context(capture_server(network, capture, IMAGE))
    docker(
        "run", "-d", "--rm", "--name", probe, "--network", network,
        "--read-only", "--tmpfs", "/tmp",
        "-e", f"SECRET_KEY={secrets.token_urlsafe(48)}",
        "-e", f"DATABASE_URL=postgresql+psycopg2://app_user:{password}@postgres:5432/sentry_probe",
        "-e", "REDIS_URL=redis://redis:6379/0", "-e", "REDIS_USER=app",
        "-e", f"REDIS_PASSWORD={secret('redis_app_password')}",
        "-e", f"SENTRY_DSN=http://publickey@{capture}:8000/1",
        "-e", "SENTRY_ENVIRONMENT=e2e",
        IMAGE,
    )  # fmt: skip
    try:
        yield probe, capture
    finally:
        docker("rm", "-f", probe, check=False)
        stack.close()


def request_inside(container: str, path: str, request_id: str) -> int:
    code = (
        "import urllib.request, urllib.error\n"
        f"req = urllib.request.Request('http://127.0.0.1:8000{path}', "
        f"headers={{'X-Request-ID': '{request_id}'}})\n"
        "try:\n    print(urllib.request.urlopen(req, timeout=10).status)\n"
        "except urllib.error.HTTPError as e:\n    print(e.code)\n"
    )
    return int(docker("exec", container, "python", "-c", code).stdout.strip())


def test_an_unhandled_error_reaches_sentry_with_its_request_id(sentry_capture):
    probe, capture = sentry_capture
    deadline = time.monotonic() + 60
    while True:
        result = docker("exec", probe, "python", "-c",
                        "import urllib.request; urllib.request.urlopen("
                        "'http://127.0.0.1:8000/healthz', timeout=2)", check=False)  # fmt: skip
        if result.returncode == 0:
            break
        assert time.monotonic() < deadline, "the probe app never started"
        time.sleep(1)
    request_id = f"sentry-{uuid.uuid4().hex}"
    # The probe's database has no tables: reading items raises an error nobody handles.
    # (A 503 means Postgres was slow to accept the connection on a loaded machine: try again.)
    statuses = []
    while len(statuses) < 5 and 500 not in statuses:
        statuses.append(request_inside(probe, "/api/items", request_id))
    assert statuses[-1] == 500, statuses
    deadline = time.monotonic() + 30
    events: list[str] = []
    while time.monotonic() < deadline and not events:
        events = [body for body in captured(capture) if request_id in body]
        time.sleep(1)
    assert events, "no Sentry event carried the request id"
    envelope = events[0]
    assert '"request_id"' in envelope and request_id in envelope
    assert "ProgrammingError" in envelope or "UndefinedTable" in envelope
    assert json.dumps("e2e") in envelope  # SENTRY_ENVIRONMENT
