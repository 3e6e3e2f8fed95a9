"""Configuration, in the detail mutation testing asked for: each setting comes from its own
variable, each bound holds at its edge, each refusal names the variable and the value, and the
config classes behave the same when built directly."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

import app.config as app_config
import redis
from app.config import (
    ConfigError,
    Env,
    ProductionConfig,
    TestingConfig as SettingsForTests,
    get_config,
    is_placeholder,
)
from app.extensions import db
from tests.unit.conftest import build_app

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 48
REQUIRED = {"SECRET_KEY": GOOD_KEY, "POSTGRES_PASSWORD": "s3cr3t-pw"}


def production(**changes: str) -> dict[str, str]:
    return {"FLASK_CONFIG": "production", **REQUIRED, **changes}


def refusal(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        get_config(environ=environ)
    return str(caught.value)


def test_every_setting_is_read_from_its_own_variable() -> None:
    config = get_config(
        environ=production(
            POSTGRES_USER="svc/user",
            POSTGRES_PASSWORD="pw/with:colon",
            POSTGRES_HOST="db.internal",
            POSTGRES_PORT="6543",
            POSTGRES_DB="items/db",
            REDIS_URL="redis://cache:6380/2",
            CACHE_KEY_PREFIX="other:",
            CACHE_DEFAULT_TIMEOUT="60",
            STATS_CACHE_TIMEOUT="5",
            CACHE_REPAIR_SECONDS="2.5",
            ASSET_MANIFEST="/srv/static/manifest.json",
            SENTRY_ENVIRONMENT="staging",
            SENTRY_TRACES_SAMPLE_RATE="0.25",
            PROMETHEUS_MULTIPROC_DIR="/tmp/metrics",
        )
    )
    # User, password and database name are quoted whole: a "/" cannot end the part early.
    assert config.SQLALCHEMY_DATABASE_URI == (
        "postgresql+psycopg2://svc%2Fuser:pw%2Fwith%3Acolon@db.internal:6543/items%2Fdb"
    )
    assert config.CACHE_REDIS_URL == "redis://cache:6380/2"
    assert config.CACHE_KEY_PREFIX == "other:"
    assert config.CACHE_DEFAULT_TIMEOUT == 60
    assert config.STATS_CACHE_TIMEOUT == 5
    assert config.CACHE_REPAIR_SECONDS == 2.5
    assert config.ASSET_MANIFEST == "/srv/static/manifest.json"
    assert config.SENTRY_ENVIRONMENT == "staging"
    assert config.SENTRY_TRACES_SAMPLE_RATE == 0.25
    assert config.PROMETHEUS_MULTIPROC_DIR == "/tmp/metrics"


def test_unset_settings_take_their_defaults() -> None:
    config = get_config(environ=production())
    assert config.CACHE_DEFAULT_TIMEOUT == 300
    assert config.STATS_CACHE_TIMEOUT == 30
    assert config.CACHE_REPAIR_SECONDS == 1.0
    assert config.ASSET_MANIFEST is None
    assert config.PROMETHEUS_MULTIPROC_DIR is None
    # The defaults docs/operations.md, security.md and contract.md restate.
    assert config.HEALTH_CACHE_SECONDS == 1.0
    assert config.JOB_VISIBILITY_TIMEOUT == 60
    assert config.JOB_MAX_ATTEMPTS == 5
    assert config.WORKER_CONCURRENCY == 2
    assert config.IMPORT_BATCH_SIZE == 500
    assert config.IMPORT_RETENTION_SECONDS == 7 * 86400
    assert config.IMPORT_EXPIRY_INTERVAL_SECONDS == 3600
    engine = config.SQLALCHEMY_ENGINE_OPTIONS
    assert (engine["pool_size"], engine["max_overflow"], engine["pool_timeout"]) == (4, 2, 5)
    # Redis is a cache: no retry after a timeout, and idle connections are checked.
    options = dict(config.CACHE_OPTIONS)
    retry = options.pop("retry")
    assert options == {
        "socket_timeout": 1.0,
        "socket_connect_timeout": 1.0,
        "retry_on_timeout": False,
        "health_check_interval": 30,
    }
    # ... and no retry at all after an error (redis-py 6 retries three times by default).
    assert retry.get_retries() == 0


@pytest.mark.parametrize(
    "name",
    [
        "POSTGRES_PORT",
        "DB_POOL_SIZE",
        "DB_POOL_TIMEOUT",
        "DB_POOL_RECYCLE",
        "DB_CONNECT_TIMEOUT",
        "CACHE_DEFAULT_TIMEOUT",
        "STATS_CACHE_TIMEOUT",
        "GUNICORN_THREADS",
    ],
)
def test_counts_and_durations_are_at_least_one(name: str) -> None:
    get_config(environ=production(**{name: "1"}))
    assert refusal(production(**{name: "0"})) == f"{name} must be at least 1, got 0"


def test_one_gunicorn_thread_makes_a_pool_of_one() -> None:
    options = get_config(environ=production(GUNICORN_THREADS="1")).SQLALCHEMY_ENGINE_OPTIONS
    assert options["pool_size"] == 1
    options = get_config(environ=production(DB_POOL_RECYCLE="1")).SQLALCHEMY_ENGINE_OPTIONS
    assert options["pool_recycle"] == 1


@pytest.mark.parametrize(("raw", "rate"), [("0", 0.0), ("0.5", 0.5), ("1", 1.0), (" 1.0 ", 1.0)])
def test_the_sample_rate_takes_any_fraction_from_zero_to_one(raw: str, rate: float) -> None:
    config = get_config(environ=production(SENTRY_TRACES_SAMPLE_RATE=raw))
    assert config.SENTRY_TRACES_SAMPLE_RATE == rate


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("-0.1", "SENTRY_TRACES_SAMPLE_RATE must be between 0.0 and 1.0, got -0.1"),
        ("1.5", "SENTRY_TRACES_SAMPLE_RATE must be between 0.0 and 1.0, got 1.5"),
        ("half", "SENTRY_TRACES_SAMPLE_RATE must be a number, got 'half'"),
    ],
)
def test_a_sample_rate_outside_zero_to_one_is_refused(raw: str, message: str) -> None:
    assert refusal(production(SENTRY_TRACES_SAMPLE_RATE=raw)) == message


@pytest.mark.parametrize(("raw", "seconds"), [("0", 0.0), ("60", 60.0)])
def test_the_repair_interval_takes_zero_to_sixty_seconds(raw: str, seconds: float) -> None:
    assert get_config(environ=production(CACHE_REPAIR_SECONDS=raw)).CACHE_REPAIR_SECONDS == seconds


@pytest.mark.parametrize("raw", ["-0.5", "60.5"])
def test_a_repair_interval_beyond_a_minute_is_refused(raw: str) -> None:
    assert refusal(production(CACHE_REPAIR_SECONDS=raw)) == (
        f"CACHE_REPAIR_SECONDS must be between 0.0 and 60.0, got {float(raw)}"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[("1", True), ("true", True), ("YES", True), ("On", True)],
        *[("0", False), ("false", False), ("No", False), ("OFF", False)],
    ],
)
def test_switches_accept_the_usual_words_in_any_case(raw: str, expected: bool) -> None:
    options = get_config(environ=production(DB_POOL_PRE_PING=raw)).SQLALCHEMY_ENGINE_OPTIONS
    assert options["pool_pre_ping"] is expected


def test_refusals_name_the_variable_the_value_and_the_choices() -> None:
    assert refusal(production(DB_POOL_PRE_PING="maybe")) == (
        "DB_POOL_PRE_PING must be true or false, got 'maybe'"
    )
    assert refusal(production(LOG_LEVEL="LOUD")) == (
        "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
    )
    assert refusal(production(FLASK_CONFIG="staging")) == (
        "FLASK_CONFIG must be one of development, production, testing, got 'staging'"
    )


def test_an_unreadable_secret_file_gives_the_reason_without_the_path(tmp_path: Path) -> None:
    env = production(SECRET_KEY_FILE=str(tmp_path / "absent"))
    assert refusal(env) == "SECRET_KEY_FILE cannot be read (No such file or directory)"


def read_secret_in_a_child(path: Path, *python_options: str, **environ: str) -> str:
    """Read the secret at PATH with Env.secret in a fresh interpreter; its stdout or stderr."""
    code = (
        "import sys; from app.config import Env; "
        "print(ascii(Env({'PW_FILE': sys.argv[1]}).secret('PW')))"
    )
    result = subprocess.run(
        [sys.executable, *python_options, "-c", code, str(path)],
        cwd=ROOT,
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else result.stderr


def test_secret_files_are_read_as_utf8_whatever_the_locale(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_bytes("pässwörd-ü".encode())
    assert Env({"PW_FILE": str(secret)}).secret("PW") == "pässwörd-ü"
    # Under the plain C locale Python's default text encoding is ASCII.
    c_locale = {"LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    assert read_secret_in_a_child(secret, **c_locale) == ascii("pässwörd-ü")
    # And the encoding is always given: Python warns whenever the locale's would be used.
    strict = ("-X", "warn_default_encoding", "-W", "error::EncodingWarning")
    assert read_secret_in_a_child(secret, *strict) == ascii("pässwörd-ü")


def test_a_secret_key_of_exactly_the_minimum_length_is_accepted() -> None:
    assert get_config(environ=production(SECRET_KEY="k" * 32)).SECRET_KEY == "k" * 32
    assert refusal(production(SECRET_KEY="k" * 31)) == "SECRET_KEY must be at least 32 bytes"


@pytest.mark.parametrize("name", ["development", "testing"])
def test_a_generated_secret_key_is_32_random_bytes_in_hex(name: str) -> None:
    first = get_config(name, environ={}).SECRET_KEY
    second = get_config(name, environ={}).SECRET_KEY
    assert len(first) == 64
    assert bytes.fromhex(first)
    assert first != second


def test_development_without_a_password_connects_without_one() -> None:
    url = get_config("development", environ={}).SQLALCHEMY_DATABASE_URI
    credentials = url.split("://", 1)[1].split("@", 1)[0]
    assert credentials
    assert ":" not in credentials


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("change this", True),
        ("my-change-me-key", True),
        ("my_change_me_key", True),
        ("exchange-rate-feed-0123456789abcdef", False),
    ],
)
def test_placeholders_are_recognised_inside_longer_values(value: str, expected: bool) -> None:
    assert is_placeholder(value) is expected


def test_a_config_class_built_directly_reads_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    built = ProductionConfig(production())
    assert built.SECRET_KEY == GOOD_KEY
    assert built.CACHE_KEY_PREFIX == "flaskstack:"
    # Only these in the environment (make exports .env to its commands).
    environ = {**REQUIRED, "CACHE_KEY_PREFIX": "from-the-environment:"}
    monkeypatch.setattr(os, "environ", environ)
    assert ProductionConfig().CACHE_KEY_PREFIX == "from-the-environment:"


def test_a_redis_user_is_passed_to_the_client() -> None:
    options = get_config(environ=production(REDIS_USER="app-cache")).CACHE_OPTIONS
    assert options["username"] == "app-cache"
    assert "username" not in get_config(environ=production()).CACHE_OPTIONS


def test_the_testing_config_keeps_the_production_cache_timings() -> None:
    testing = SettingsForTests({})
    defaults = get_config(environ=production())
    assert testing.CACHE_KEY_PREFIX == "test:"
    assert testing.CACHE_DEFAULT_TIMEOUT == defaults.CACHE_DEFAULT_TIMEOUT
    assert testing.STATS_CACHE_TIMEOUT == defaults.STATS_CACHE_TIMEOUT


@pytest.mark.parametrize("database", ["memory", "file"])
def test_the_testing_database_can_be_used_from_another_thread(
    database: str, tmp_path: Path
) -> None:
    # A test may point the testing config at a file; its engine options still apply.
    app = (
        build_app()
        if database == "memory"
        else build_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'threads.db'}")
    )
    answers: list[object] = []

    def query() -> None:
        with app.app_context():
            answers.append(db.session.execute(sa.text("SELECT 1")).scalar())
            db.session.remove()

    worker = threading.Thread(target=query)
    worker.start()
    worker.join()
    assert answers == [1]
    with app.app_context():
        db.engine.dispose()


def jobs(**environ: str) -> str:
    """The broker URL the worker and the scheduler would use with ENVIRON."""
    return get_config("production", environ=environ, jobs_only=True).JOBS_BROKER_URL


def test_the_broker_url_is_read_from_its_own_variable_and_kept_without_credentials() -> None:
    assert jobs() == "redis://broker:6379/0"
    assert jobs(JOBS_BROKER_URL="redis://queue:6390/3") == "redis://queue:6390/3"


def test_a_broker_user_alone_or_a_password_alone_goes_into_the_url() -> None:
    assert jobs(BROKER_USER="worker") == "redis://worker@broker:6379/0"
    # Redis's default user with a password (requirepass): an empty user name before the colon.
    assert jobs(BROKER_PASSWORD="s3cr3t-pw") == "redis://:s3cr3t-pw@broker:6379/0"


def test_a_broker_user_is_quoted_whole_and_a_url_without_a_path_takes_it_too() -> None:
    assert jobs(BROKER_USER="svc/worker") == "redis://svc%2Fworker@broker:6379/0"
    assert jobs(JOBS_BROKER_URL="redis://queue:6390", BROKER_USER="w") == "redis://w@queue:6390"


def test_only_the_host_part_of_the_broker_url_is_read_for_credentials() -> None:
    # An "@" or "://" further on (a query value) is the URL's own business.
    url = "redis://queue:6390/1?health=http://probe@monitor/ping"
    assert jobs(JOBS_BROKER_URL=url, BROKER_USER="w") == (
        "redis://w@queue:6390/1?health=http://probe@monitor/ping"
    )


@pytest.mark.parametrize("url", ["redis://old:pw@queue:6390/1", "queue:6390/1"])
def test_a_broker_url_with_credentials_or_without_a_scheme_is_refused(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        jobs(JOBS_BROKER_URL=url, BROKER_USER="worker")
    assert str(caught.value) == (
        "JOBS_BROKER_URL must be scheme://host:port/db, without credentials"
    )


def test_every_job_setting_is_read_from_its_own_variable() -> None:
    config = get_config(
        "production",
        environ={
            "BROKER_TIMEOUT": "0.5",
            "JOB_VISIBILITY_TIMEOUT": "90",
            "JOB_MAX_ATTEMPTS": "3",
            "WORKER_CONCURRENCY": "4",
            "IMPORT_BATCH_SIZE": "50",
            "IMPORT_RETENTION_SECONDS": "86400",
            "IMPORT_EXPIRY_INTERVAL_SECONDS": "600",
        },
        jobs_only=True,
    )
    assert config.BROKER_TIMEOUT == 0.5
    assert config.JOB_VISIBILITY_TIMEOUT == 90
    assert config.JOB_MAX_ATTEMPTS == 3
    assert config.WORKER_CONCURRENCY == 4
    assert config.IMPORT_BATCH_SIZE == 50
    assert config.IMPORT_RETENTION_SECONDS == 86400
    assert config.IMPORT_EXPIRY_INTERVAL_SECONDS == 600
    assert get_config("production", environ={}, jobs_only=True).BROKER_TIMEOUT == 2.0


@pytest.mark.parametrize(("raw", "seconds"), [("0.1", 0.1), ("60", 60.0)])
def test_the_broker_timeout_takes_a_tenth_of_a_second_to_a_minute(raw: str, seconds: float) -> None:
    config = get_config("production", environ={"BROKER_TIMEOUT": raw}, jobs_only=True)
    assert config.BROKER_TIMEOUT == seconds


@pytest.mark.parametrize("raw", ["0.09", "60.5"])
def test_a_broker_timeout_beyond_those_bounds_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        get_config("production", environ={"BROKER_TIMEOUT": raw}, jobs_only=True)
    assert str(caught.value) == f"BROKER_TIMEOUT must be between 0.1 and 60.0, got {float(raw)}"


@pytest.mark.parametrize(
    ("name", "minimum"),
    [
        ("JOB_VISIBILITY_TIMEOUT", 5),
        ("JOB_MAX_ATTEMPTS", 1),
        ("WORKER_CONCURRENCY", 1),
        ("IMPORT_BATCH_SIZE", 1),
        ("IMPORT_RETENTION_SECONDS", 1),
        ("IMPORT_EXPIRY_INTERVAL_SECONDS", 1),
    ],
)
def test_job_counts_and_durations_hold_at_their_minimum(name: str, minimum: int) -> None:
    config = get_config("production", environ={name: str(minimum)}, jobs_only=True)
    assert getattr(config, name) == minimum
    with pytest.raises(ConfigError) as caught:
        get_config("production", environ={name: str(minimum - 1)}, jobs_only=True)
    assert str(caught.value) == f"{name} must be at least {minimum}, got {minimum - 1}"


def test_the_cache_client_options_make_a_command_to_a_dead_redis_fail_cleanly() -> None:
    """The options build a working client: a refused connection (port 9, discard) is redis'
    ConnectionError, which app/caching.py turns into a miss, not a crash of the retry policy."""
    options = get_config(environ=production()).CACHE_OPTIONS
    client = redis.Redis(host="127.0.0.1", port=9, **options)
    with pytest.raises(redis.exceptions.ConnectionError):
        client.get("flaskstack:any")


def test_the_production_image_refusal_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "production-image"
    marker.write_text("FLASK_CONFIG=production only\n")
    monkeypatch.setattr(app_config, "PRODUCTION_IMAGE_MARKER", marker)
    assert refusal({"FLASK_CONFIG": "development"}) == (
        "FLASK_CONFIG=development cannot run in the production image (debug and placeholder"
        " secrets are for `make dev`, which runs the development image); use production"
    )
