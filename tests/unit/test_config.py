"""Configuration: each setting comes from its own variable or takes its default, each bound holds
at its edge, each refusal is one line naming the variable (and the value it got), secrets are
read from files, placeholders are refused, and the config classes behave the same when built
directly."""

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
    DevelopmentConfig,
    Env,
    ProductionConfig,
    TestingConfig as SettingsForTests,
    get_config,
    is_placeholder,
)
from app.extensions import db
from app.version import __version__
from tests.unit.conftest import build_app

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 48
SECRETS = {"SECRET_KEY": GOOD_KEY, "POSTGRES_PASSWORD": "s3cr3t-pw"}
PRODUCTION = {"FLASK_CONFIG": "production", **SECRETS}


def production(**changes: str | None) -> dict[str, str]:
    env = {**PRODUCTION, **changes}
    return {key: value for key, value in env.items() if value is not None}


def refusal(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        get_config(environ=environ)
    return str(caught.value)


def test_production_config_is_the_default_and_forces_debug_off() -> None:
    config = get_config(environ=production(FLASK_CONFIG=None))
    assert isinstance(config, ProductionConfig)
    assert config.DEBUG is False
    assert config.TESTING is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (production(SECRET_KEY=None), "SECRET_KEY is missing"),
        (production(SECRET_KEY="short"), "SECRET_KEY must be at least 32 bytes"),
        (production(SECRET_KEY="change-me"), "SECRET_KEY is a placeholder value"),
        (
            production(SECRET_KEY="replace-with-a-long-random-string-please"),
            "SECRET_KEY is a placeholder value",
        ),
        (production(POSTGRES_PASSWORD=None), "POSTGRES_PASSWORD is missing"),
        (production(POSTGRES_PASSWORD="changeme"), "POSTGRES_PASSWORD is a placeholder value"),
        (production(REDIS_PASSWORD="secret"), "REDIS_PASSWORD is a placeholder value"),
        (production(DB_POOL_SIZE="many"), "DB_POOL_SIZE must be an integer, got 'many'"),
        (
            production(DB_POOL_PRE_PING="maybe"),
            "DB_POOL_PRE_PING must be true or false, got 'maybe'",
        ),
        (
            production(FLASK_CONFIG="staging"),
            "FLASK_CONFIG must be one of development, production, testing, got 'staging'",
        ),
        (
            production(LOG_LEVEL="LOUD"),
            "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
    ],
)
def test_invalid_production_config_raises_one_line_naming_the_variable(
    env: dict[str, str], message: str
) -> None:
    refused = refusal(env)
    assert refused == message
    assert "\n" not in refused


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


def test_secrets_are_read_from_file_variables_and_stripped(tmp_path: Path) -> None:
    key_file = tmp_path / "secret_key"
    key_file.write_text(GOOD_KEY + "\n")
    password_file = tmp_path / "pg"
    password_file.write_text("p@ss/word:1\n")
    env = production(SECRET_KEY=None, POSTGRES_PASSWORD=None)
    env |= {"SECRET_KEY_FILE": str(key_file), "POSTGRES_PASSWORD_FILE": str(password_file)}
    config = get_config(environ=env)
    assert config.SECRET_KEY == GOOD_KEY
    # The password is URL-quoted into the built URL.
    assert config.SQLALCHEMY_DATABASE_URI == (
        "postgresql+psycopg2://app:p%40ss%2Fword%3A1@postgres:5432/app"
    )


def test_an_unreadable_secret_file_is_refused_with_its_variable_and_the_reason_not_the_path(
    tmp_path: Path,
) -> None:
    absent = str(tmp_path / "absent")
    message = "SECRET_KEY_FILE cannot be read (No such file or directory)"
    assert refusal(production(SECRET_KEY=None, SECRET_KEY_FILE=absent)) == message
    # The file is read even when the variable itself is set too.
    assert refusal(production(SECRET_KEY_FILE=absent)) == message


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


def test_database_url_overrides_postgres_variables() -> None:
    url = "postgresql+psycopg2://u:p@db.internal:6543/x"
    config = get_config(environ=production(POSTGRES_PASSWORD=None, DATABASE_URL=url))
    assert config.SQLALCHEMY_DATABASE_URI == url


def test_pool_options_default_to_gunicorn_threads_and_use_engine_options() -> None:
    config = get_config(environ=production(GUNICORN_THREADS="6"))
    assert config.SQLALCHEMY_ENGINE_OPTIONS == {
        "pool_size": 6,
        "max_overflow": 2,
        "pool_timeout": 5,
        "pool_recycle": 1800,
        "pool_pre_ping": True,
        "connect_args": {"connect_timeout": 2},
    }
    assert not [name for name in vars(config) if name.startswith("SQLALCHEMY_POOL")]


def test_pool_options_follow_their_variables() -> None:
    env = production(
        DB_POOL_SIZE="3",
        DB_MAX_OVERFLOW="0",
        DB_POOL_TIMEOUT="1",
        DB_POOL_RECYCLE="60",
        DB_POOL_PRE_PING="false",
        DB_CONNECT_TIMEOUT="1",
    )
    options = get_config(environ=env).SQLALCHEMY_ENGINE_OPTIONS
    assert options["pool_size"] == 3
    assert options["max_overflow"] == 0
    assert options["pool_timeout"] == 1
    assert options["pool_recycle"] == 60
    assert options["pool_pre_ping"] is False
    assert options["connect_args"] == {"connect_timeout": 1}


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


def test_one_gunicorn_thread_makes_a_pool_of_one_and_a_one_second_recycle_is_kept() -> None:
    options = get_config(environ=production(GUNICORN_THREADS="1")).SQLALCHEMY_ENGINE_OPTIONS
    assert options["pool_size"] == 1
    options = get_config(environ=production(DB_POOL_RECYCLE="1")).SQLALCHEMY_ENGINE_OPTIONS
    assert options["pool_recycle"] == 1


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


def test_cache_settings_bound_redis_timeouts_and_carry_the_password() -> None:
    config = get_config(
        environ=production(REDIS_PASSWORD="a-real-redis-password", REDIS_USER="app")
    )
    assert config.CACHE_TYPE == "app.caching.JsonRedisCache"
    assert config.CACHE_OPTIONS["username"] == "app"
    assert config.CACHE_REDIS_URL == "redis://redis:6379/0"
    assert config.CACHE_KEY_PREFIX == "flaskstack:"
    assert config.CACHE_OPTIONS["socket_timeout"] <= 1
    assert config.CACHE_OPTIONS["socket_connect_timeout"] <= 1
    assert config.CACHE_OPTIONS["password"] == "a-real-redis-password"
    assert config.STATS_CACHE_TIMEOUT == 30
    # Without REDIS_USER the client gets no user name at all (Redis's default user).
    assert "username" not in get_config(environ=production()).CACHE_OPTIONS


def test_the_cache_client_options_make_a_command_to_a_dead_redis_fail_cleanly() -> None:
    """The options build a working client: a refused connection (port 9, discard) is redis'
    ConnectionError, which app/caching.py turns into a miss, not a crash of the retry policy."""
    options = get_config(environ=production()).CACHE_OPTIONS
    client = redis.Redis(host="127.0.0.1", port=9, **options)
    with pytest.raises(redis.exceptions.ConnectionError):
        client.get("flaskstack:any")


@pytest.mark.parametrize(("raw", "seconds"), [("0", 0.0), ("60", 60.0)])
def test_the_repair_interval_takes_zero_to_sixty_seconds(raw: str, seconds: float) -> None:
    assert get_config(environ=production(CACHE_REPAIR_SECONDS=raw)).CACHE_REPAIR_SECONDS == seconds


@pytest.mark.parametrize("raw", ["-0.5", "60.5"])
def test_a_repair_interval_beyond_a_minute_is_refused(raw: str) -> None:
    assert refusal(production(CACHE_REPAIR_SECONDS=raw)) == (
        f"CACHE_REPAIR_SECONDS must be between 0.0 and 60.0, got {float(raw)}"
    )


def test_proxy_fix_and_sentry_defaults() -> None:
    config = get_config(environ=production())
    assert config.PROXY_FIX == {"for": 1, "proto": 1, "host": 1, "port": 1, "prefix": 1}
    assert config.SENTRY_DSN is None
    assert config.SENTRY_ENVIRONMENT == "production"
    assert config.SENTRY_TRACES_SAMPLE_RATE == 0.0
    assert config.APP_VERSION == __version__


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


def test_development_accepts_placeholders_and_generates_a_missing_key() -> None:
    config = get_config(environ={"FLASK_CONFIG": "development", "POSTGRES_PASSWORD": "dev"})
    assert isinstance(config, DevelopmentConfig)
    assert len(config.SECRET_KEY) >= 32
    assert config.DEBUG is True


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


def test_testing_config_takes_the_database_url_and_ignores_deployment_settings() -> None:
    environ = {"SECRET_KEY": "x", "DATABASE_URL": "postgresql://h/d", "REDIS_URL": "redis://r/0"}
    config = get_config("testing", environ=environ)
    assert isinstance(config, SettingsForTests)
    assert config.SQLALCHEMY_DATABASE_URI == "postgresql://h/d"  # the unit suite's Postgres
    assert config.SECRET_KEY != "x"
    assert config.CACHE_TYPE == "SimpleCache"


def test_the_testing_config_keeps_the_production_cache_timings() -> None:
    testing = SettingsForTests({})
    defaults = get_config(environ=production())
    assert testing.CACHE_KEY_PREFIX == "test:"
    assert testing.CACHE_DEFAULT_TIMEOUT == defaults.CACHE_DEFAULT_TIMEOUT
    assert testing.STATS_CACHE_TIMEOUT == defaults.STATS_CACHE_TIMEOUT


@pytest.mark.usefixtures("database")
def test_the_testing_database_can_be_used_from_another_thread() -> None:
    app = build_app()
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


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("change-me", True),
        ("CHANGEME", True),
        ("please-change_me-now-000000000000000", True),
        ("replace-me", True),
        ("secret", True),
        ("dev", True),
        ("3f9a0c1e5b7d2a4c6e8f0a1b3c5d7e9f", False),
        # Recognised inside longer values, whatever separates the words...
        ("change this", True),
        ("my-change-me-key", True),
        ("my_change_me_key", True),
        # ... but not inside another word.
        ("exchange-rate-feed-0123456789abcdef", False),
    ],
)
def test_placeholder_detection(value: str, expected: bool) -> None:
    assert is_placeholder(value) is expected


def test_an_empty_secret_file_means_unset(tmp_path: Path) -> None:
    empty = tmp_path / "sentry_dsn"
    empty.write_text("\n")
    config = get_config(environ=production(SENTRY_DSN_FILE=str(empty)))
    assert config.SENTRY_DSN is None
    key = tmp_path / "secret_key"
    key.write_text("")
    with pytest.raises(ConfigError, match="SECRET_KEY is missing"):
        get_config(environ=production(SECRET_KEY=None, SECRET_KEY_FILE=str(key)))


def test_a_secret_key_of_exactly_the_minimum_length_is_accepted() -> None:
    assert get_config(environ=production(SECRET_KEY="k" * 32)).SECRET_KEY == "k" * 32
    assert refusal(production(SECRET_KEY="k" * 31)) == "SECRET_KEY must be at least 32 bytes"


def test_trusted_hosts_are_the_server_names_and_loopback() -> None:
    config = get_config(environ=production(SERVER_NAME="example.com www.example.com"))
    assert config.TRUSTED_HOSTS == ["127.0.0.1", "example.com", "localhost", "www.example.com"]
    proxies = get_config(environ=production(TRUSTED_PROXIES=" nginx, 10.0.0.0/8 ,"))
    assert proxies.TRUSTED_PROXIES == ["nginx", "10.0.0.0/8"]
    assert get_config(environ=production()).TRUSTED_PROXIES == []


def test_a_config_class_built_directly_reads_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    built = ProductionConfig(production())
    assert built.SECRET_KEY == GOOD_KEY
    assert built.CACHE_KEY_PREFIX == "flaskstack:"
    # Only these in the environment (make exports .env to its commands).
    environ = {**SECRETS, "CACHE_KEY_PREFIX": "from-the-environment:"}
    monkeypatch.setattr(os, "environ", environ)
    assert ProductionConfig().CACHE_KEY_PREFIX == "from-the-environment:"


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


# --- The job processes' settings (jobs_only: the worker and the scheduler) --------------------


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
