"""Configuration: secrets fail fast with the variable named, pool options, placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import (
    ConfigError,
    DevelopmentConfig,
    ProductionConfig,
    TestingConfig as SettingsForTests,
    get_config,
    is_placeholder,
)
from app.version import __version__

pytestmark = pytest.mark.unit

GOOD_KEY = "k" * 48
PRODUCTION = {
    "FLASK_CONFIG": "production",
    "SECRET_KEY": GOOD_KEY,
    "POSTGRES_PASSWORD": "s3cr3t-pw",
}


def production(**changes: str | None) -> dict[str, str]:
    env = {**PRODUCTION, **changes}
    return {key: value for key, value in env.items() if value is not None}


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
        (production(DB_POOL_SIZE="many"), "DB_POOL_SIZE must be an integer"),
        (production(FLASK_CONFIG="staging"), "FLASK_CONFIG must be one of"),
        (production(LOG_LEVEL="LOUD"), "LOG_LEVEL must be one of"),
    ],
)
def test_invalid_production_config_raises_one_line_naming_the_variable(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        get_config(environ=env)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


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


def test_unreadable_secret_file_is_refused_with_its_variable(tmp_path: Path) -> None:
    env = production(SECRET_KEY=None) | {"SECRET_KEY_FILE": str(tmp_path / "absent")}
    with pytest.raises(ConfigError, match=r"^SECRET_KEY_FILE cannot be read"):
        get_config(environ=env)


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


def test_proxy_fix_and_sentry_defaults() -> None:
    config = get_config(environ=production())
    assert config.PROXY_FIX == {"for": 1, "proto": 1, "host": 1, "port": 1, "prefix": 1}
    assert config.SENTRY_DSN is None
    assert config.SENTRY_ENVIRONMENT == "production"
    assert config.SENTRY_TRACES_SAMPLE_RATE == 0.0
    assert config.APP_VERSION == __version__


def test_development_accepts_placeholders_and_generates_a_missing_key() -> None:
    config = get_config(environ={"FLASK_CONFIG": "development", "POSTGRES_PASSWORD": "dev"})
    assert isinstance(config, DevelopmentConfig)
    assert len(config.SECRET_KEY) >= 32
    assert config.DEBUG is True


def test_testing_config_ignores_deployment_settings() -> None:
    config = get_config("testing", environ={"SECRET_KEY": "x", "DATABASE_URL": "postgresql://h/d"})
    assert isinstance(config, SettingsForTests)
    assert config.SQLALCHEMY_DATABASE_URI == "sqlite://"
    assert config.CACHE_TYPE == "SimpleCache"


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


def test_trusted_hosts_are_the_server_names_and_loopback() -> None:
    config = get_config(environ=production(SERVER_NAME="example.com www.example.com"))
    assert config.TRUSTED_HOSTS == ["127.0.0.1", "example.com", "localhost", "www.example.com"]
    proxies = get_config(environ=production(TRUSTED_PROXIES=" nginx, 10.0.0.0/8 ,"))
    assert proxies.TRUSTED_PROXIES == ["nginx", "10.0.0.0/8"]
    assert get_config(environ=production()).TRUSTED_PROXIES == []
