"""Configuration classes; each reads the environment once, when it is instantiated.

Every variable (default in brackets); `.env.example` lists them for users, and a test keeps
the two in step. Those marked * are secrets and may instead be read from a file named by
``<NAME>_FILE`` (its contents are stripped; an empty file means unset); ``_FILE`` wins when
both are set. Outside
development, secrets that look like placeholders are refused. The version is not a setting:
it is ``app/version.py``, baked into the image the app runs from.

General
  FLASK_CONFIG               [production] production | development | testing; the
                             production image runs production alone (`make dev` runs the
                             development image, debug on)
  SECRET_KEY *               required outside development/testing; >= 32 bytes
  LOG_LEVEL                  [INFO] DEBUG | INFO | WARNING | ERROR | CRITICAL
  ASSET_MANIFEST             [app/static/manifest.json if present] fingerprinted asset names

Database
  DATABASE_URL *             [built from POSTGRES_*] full SQLAlchemy URL, overrides POSTGRES_*
  POSTGRES_HOST              [postgres]
  POSTGRES_PORT              [5432]
  POSTGRES_DB                [app]
  POSTGRES_USER              [app]
  POSTGRES_PASSWORD *        required in production unless DATABASE_URL is set
  DB_POOL_SIZE               [GUNICORN_THREADS] persistent connections per worker
  DB_MAX_OVERFLOW            [2] extra connections per worker under bursts
  DB_POOL_TIMEOUT            [5] seconds a request waits for a pooled connection
  DB_POOL_RECYCLE            [1800] seconds before a connection is replaced
  DB_POOL_PRE_PING           [true] test a connection before handing it out
  DB_CONNECT_TIMEOUT         [2] seconds to open a connection to Postgres

Cache
  REDIS_URL                  [redis://redis:6379/0]
  REDIS_USER                 [none: the default user] the app's Redis ACL user
  REDIS_PASSWORD *           [none]
  CACHE_KEY_PREFIX           [flaskstack:]
  CACHE_DEFAULT_TIMEOUT      [300] seconds a cached item lives
  STATS_CACHE_TIMEOUT        [30] seconds /api/stats is served from the cache
  CACHE_REPAIR_SECONDS       [1] how often each process applies invalidations lost while
                             Redis was unreachable (app/caching.py)

Background jobs (app/jobs/: the worker, the scheduler, the imports)
  JOBS_BROKER_URL            [redis://broker:6379/0] the queue's Redis: not the cache's, which
                             evicts keys and keeps nothing across a restart. Not BROKER_URL:
                             the celery command reads that one as its --broker option
  BROKER_USER                [none: the default user] the process's ACL user on the broker
  BROKER_PASSWORD *          [none]
  BROKER_TIMEOUT             [2] seconds to reach the broker before a job is refused (503)
  JOB_VISIBILITY_TIMEOUT     [60] seconds after which a job taken by a worker that died is
                             handed to another; longer than any job runs
  JOB_MAX_ATTEMPTS           [5] starts of one import before it is failed as undoable
  WORKER_CONCURRENCY         [2] jobs one worker container runs at once (processes)
  IMPORT_BATCH_SIZE          [500] items written per transaction; progress moves per batch
  IMPORT_RETENTION_SECONDS   [604800] finished imports older than this are deleted by the
                             periodic job (their items stay)
  IMPORT_EXPIRY_INTERVAL_SECONDS [3600] how often the scheduler runs that job

Reverse proxy (how many proxies set each X-Forwarded-* header; nginx is the one proxy)
  PROXY_FIX_X_FOR [1], PROXY_FIX_X_PROTO [1], PROXY_FIX_X_HOST [1], PROXY_FIX_X_PORT [1],
  PROXY_FIX_X_PREFIX [1]
  TRUSTED_PROXIES            [none: any peer] host names or networks (comma-separated) of the
                             proxies allowed to send requests; any other peer gets 403, and
                             forwarded headers count only from these
  SERVER_NAME                [localhost 127.0.0.1] the host names clients use (nginx's too);
                             any other Host gets 400 (loopback names always pass)

Error reporting
  SENTRY_DSN *               [unset: Sentry disabled]
  SENTRY_ENVIRONMENT         [FLASK_CONFIG]
  SENTRY_TRACES_SAMPLE_RATE  [0] 0.0 .. 1.0

Metrics
  PROMETHEUS_MULTIPROC_DIR   [unset] set by the image: metrics are written there for the
                             gunicorn master to serve; unset: in-process registry, no endpoint

Connection budget. Each gunicorn worker has its own pool, and a worker's threads each hold at
most one connection at a time, so pool_size = GUNICORN_THREADS. One app container opens at most
  GUNICORN_WORKERS x (DB_POOL_SIZE + DB_MAX_OVERFLOW) = 2 x (4 + 2) = 12 connections,
plus one short-lived connection per concurrent /health check. Postgres allows
max_connections = 100, of which 3 are reserved for superusers: 97 / 12 leaves room for about
seven app containers at the defaults, with headroom for the migration job (2), health checks
and an operator's psql. Raise workers or threads and this sum must be redone.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from redis.backoff import NoBackoff
from redis.retry import Retry

from app.version import __version__
from pyservice.gunicorn import gunicorn_threads
from pyservice.settings import Env, SettingsError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MIN_SECRET_KEY_BYTES = 32
MAX_CONTENT_LENGTH = 1024 * 1024
# Redis is a cache: a slow or dead Redis must cost a request at most this many seconds.
REDIS_SOCKET_TIMEOUT = 1.0
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")
# The production image carries this file (Dockerfile); its `dev` stage, which `make dev` runs,
# removes it. Where it exists only FLASK_CONFIG=production loads, whatever .env says: the
# production image never runs with debug on.
PRODUCTION_IMAGE_MARKER = Path("/etc/flask-stack/production-image")

_PLACEHOLDERS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "dev",
        "development",
        "password",
        "test",
        "example",
        "placeholder",
        "todo",
        "xxx",
    }
)
# Invalid configuration; the message is one line naming the variable.
ConfigError = SettingsError


def is_placeholder(value: str) -> bool:
    """Tell whether a secret is a well-known placeholder rather than a real value."""
    lowered = value.strip().lower()
    squashed = lowered.replace("-", "").replace("_", "")
    return (
        lowered in _PLACEHOLDERS
        or lowered.startswith(("replace", "change"))
        or "changeme" in squashed
    )


class Config:
    """Settings shared by every environment; subclasses relax or tighten them."""

    NAME = "base"
    DEBUG = False
    TESTING = False
    # Placeholder secrets and missing required secrets are refused unless this is False.
    STRICT_SECRETS = True
    # Flask serves /static/ itself only where no nginx is in front (development, tests).
    SERVE_STATIC = False
    MAX_CONTENT_LENGTH = MAX_CONTENT_LENGTH
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # /health's checks run at most once a second per process (app/health/checks.py).
    HEALTH_CACHE_DEFAULT = 1.0

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        database_only: bool = False,
        jobs_only: bool = False,
    ) -> None:
        """Read the environment; DATABASE_ONLY reads the database and logging settings alone
        (the migration job: no secret key, cache or metrics), JOBS_ONLY the broker's and
        logging (the scheduler and the worker's healthcheck: no database either)."""
        env = Env(os.environ if environ is None else environ)
        self.APP_VERSION = __version__
        self.LOG_LEVEL = env.str("LOG_LEVEL", "INFO").upper()
        if self.LOG_LEVEL not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        if jobs_only:
            self._load_jobs(env)
            return
        self.SQLALCHEMY_DATABASE_URI = self._load_database_url(env)
        self.SQLALCHEMY_ENGINE_OPTIONS = self._load_engine_options(env)
        if database_only:
            return
        self.ASSET_MANIFEST = env.optional("ASSET_MANIFEST")
        self.SECRET_KEY = self._load_secret_key(env)
        self._load_cache(env)
        self.PROXY_FIX = {
            key: env.int(f"PROXY_FIX_X_{key.upper()}", 1)
            for key in ("for", "proto", "host", "port", "prefix")
        }
        self.TRUSTED_PROXIES = [
            part.strip() for part in env.str("TRUSTED_PROXIES", "").split(",") if part.strip()
        ]
        self.TRUSTED_HOSTS = self._load_trusted_hosts(env)
        self.HEALTH_CACHE_SECONDS = self.HEALTH_CACHE_DEFAULT
        self.SENTRY_DSN = env.secret("SENTRY_DSN")
        self.SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", self.NAME)
        self.SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", 0.0, 0.0, 1.0)
        self.PROMETHEUS_MULTIPROC_DIR = self._load_multiproc_dir(env)
        self._load_jobs(env)

    # Each loader is a method so that an environment can change one concern only.

    def _checked_secret(self, env: Env, name: str, required: bool) -> str | None:
        value = env.secret(name)
        if value is None:
            if required and self.STRICT_SECRETS:
                raise ConfigError(f"{name} is missing")
            return None
        if self.STRICT_SECRETS and is_placeholder(value):
            raise ConfigError(f"{name} is a placeholder value")
        return value

    def _load_database_url(self, env: Env) -> str:
        url = env.secret("DATABASE_URL")
        if url is not None:
            return url
        password = self._checked_secret(env, "POSTGRES_PASSWORD", required=True)
        user = quote(env.str("POSTGRES_USER", "app"), safe="")
        credentials = user if password is None else f"{user}:{quote(password, safe='')}"
        host = env.str("POSTGRES_HOST", "postgres")
        port = env.int("POSTGRES_PORT", 5432, minimum=1)
        name = quote(env.str("POSTGRES_DB", "app"), safe="")
        return f"postgresql+psycopg2://{credentials}@{host}:{port}/{name}"

    def _load_engine_options(self, env: Env) -> dict[str, Any]:
        pre_ping = env.bool("DB_POOL_PRE_PING", True)
        return {
            "pool_size": env.int("DB_POOL_SIZE", gunicorn_threads(env), minimum=1),
            "max_overflow": env.int("DB_MAX_OVERFLOW", 2),
            "pool_timeout": env.int("DB_POOL_TIMEOUT", 5, minimum=1),
            "pool_recycle": env.int("DB_POOL_RECYCLE", 1800, minimum=1),
            "pool_pre_ping": pre_ping,
            "connect_args": {"connect_timeout": env.int("DB_CONNECT_TIMEOUT", 2, minimum=1)},
        }

    def _load_trusted_hosts(self, env: Env) -> list[str] | None:
        names = env.str("SERVER_NAME", "localhost 127.0.0.1").split()
        # Loopback names always pass: the container's own healthcheck calls 127.0.0.1:8000.
        return sorted({*names, *LOOPBACK_HOSTS})

    def _load_secret_key(self, env: Env) -> str:
        value = self._checked_secret(env, "SECRET_KEY", required=True)
        if value is None:
            # Only reachable when secrets are not strict: a per-process random key.
            return secrets.token_hex(32)
        if self.STRICT_SECRETS and len(value.encode("utf-8")) < MIN_SECRET_KEY_BYTES:
            raise ConfigError(f"SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes")
        return value

    def _load_cache(self, env: Env) -> None:
        password = self._checked_secret(env, "REDIS_PASSWORD", required=False)
        options: dict[str, Any] = {
            "socket_timeout": REDIS_SOCKET_TIMEOUT,
            "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
            "retry_on_timeout": False,
            # redis-py 6 retries a failed command three times with up to 10 s of backoff by
            # default; an unreachable cache must cost one timeout, then the database answers.
            "retry": Retry(NoBackoff(), 0),
            "health_check_interval": 30,
        }
        if password is not None:
            options["password"] = password
        user = env.optional("REDIS_USER")
        if user is not None:
            options["username"] = user
        # Flask-Caching's Redis backend with JSON, never pickle (app/caching.py).
        self.CACHE_TYPE = "app.caching.JsonRedisCache"
        self.CACHE_REDIS_URL = env.str("REDIS_URL", "redis://redis:6379/0")
        self.CACHE_OPTIONS = options
        self.CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", "flaskstack:")
        self.CACHE_DEFAULT_TIMEOUT = env.int("CACHE_DEFAULT_TIMEOUT", 300, minimum=1)
        self.STATS_CACHE_TIMEOUT = env.int("STATS_CACHE_TIMEOUT", 30, minimum=1)
        self.CACHE_REPAIR_SECONDS = env.float("CACHE_REPAIR_SECONDS", 1.0, 0.0, 60.0)

    def _load_multiproc_dir(self, env: Env) -> str | None:
        return env.optional("PROMETHEUS_MULTIPROC_DIR")

    def _load_jobs(self, env: Env) -> None:
        self.JOBS_BROKER_URL = self._broker_url(env)
        self.BROKER_TIMEOUT = env.float("BROKER_TIMEOUT", 2.0, 0.1, 60.0)
        self.JOB_VISIBILITY_TIMEOUT = env.int("JOB_VISIBILITY_TIMEOUT", 60, minimum=5)
        self.JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", 5, minimum=1)
        self.WORKER_CONCURRENCY = env.int("WORKER_CONCURRENCY", 2, minimum=1)
        self.IMPORT_BATCH_SIZE = env.int("IMPORT_BATCH_SIZE", 500, minimum=1)
        self.IMPORT_RETENTION_SECONDS = env.int("IMPORT_RETENTION_SECONDS", 7 * 86400, minimum=1)
        self.IMPORT_EXPIRY_INTERVAL_SECONDS = env.int(
            "IMPORT_EXPIRY_INTERVAL_SECONDS", 3600, minimum=1
        )

    def _broker_url(self, env: Env) -> str:
        """JOBS_BROKER_URL with BROKER_USER and BROKER_PASSWORD put into it (quoted)."""
        url = env.str("JOBS_BROKER_URL", "redis://broker:6379/0")
        password = self._checked_secret(env, "BROKER_PASSWORD", required=False)
        user = env.optional("BROKER_USER")
        if password is None and user is None:
            return url
        scheme, sep, rest = url.partition("://")
        if not sep or "@" in rest.split("/", 1)[0]:
            raise ConfigError("JOBS_BROKER_URL must be scheme://host:port/db, without credentials")
        credentials = quote(user or "", safe="")
        if password is not None:
            credentials += ":" + quote(password, safe="")
        return f"{scheme}://{credentials}@{rest}"


class ProductionConfig(Config):
    """Behind nginx, in the container: every secret required and real."""

    NAME = "production"


class DevelopmentConfig(Config):
    """A developer's machine: placeholders accepted, missing secrets generated."""

    NAME = "development"
    DEBUG = True
    STRICT_SECRETS = False
    SERVE_STATIC = True


class TestingConfig(Config):
    """Unit tests: the database DATABASE_URL names (the unit suite's own Postgres, see
    tests/support/postgres.py) and an in-process cache; ignores deployment secrets."""

    NAME = "testing"
    TESTING = True
    STRICT_SECRETS = False
    SERVE_STATIC = True
    HEALTH_CACHE_DEFAULT = 0.0

    def _load_secret_key(self, env: Env) -> str:
        return secrets.token_hex(32)

    def _load_trusted_hosts(self, env: Env) -> list[str] | None:
        return None  # the test client's host is whatever a test sends

    def _load_cache(self, env: Env) -> None:
        self.CACHE_TYPE = "SimpleCache"
        self.CACHE_KEY_PREFIX = "test:"
        self.CACHE_DEFAULT_TIMEOUT = 300
        self.STATS_CACHE_TIMEOUT = 30
        self.CACHE_REPAIR_SECONDS = 0.0

    def _load_multiproc_dir(self, env: Env) -> str | None:
        return None

    def _broker_url(self, env: Env) -> str:
        return "memory://"  # kombu's in-process transport: jobs are queued, never run


CONFIGS: dict[str, type[Config]] = {
    cls.NAME: cls for cls in (ProductionConfig, DevelopmentConfig, TestingConfig)
}


def get_config(
    name: str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    database_only: bool = False,
    jobs_only: bool = False,
) -> Config:
    """Build the config named (else FLASK_CONFIG, else production); raise ConfigError if invalid."""
    source = os.environ if environ is None else environ
    chosen = (name or source.get("FLASK_CONFIG", "").strip() or "production").lower()
    try:
        config_class = CONFIGS[chosen]
    except KeyError:
        raise ConfigError(
            f"FLASK_CONFIG must be one of {', '.join(sorted(CONFIGS))}, got {chosen!r}"
        ) from None
    if config_class is not ProductionConfig and PRODUCTION_IMAGE_MARKER.exists():
        raise ConfigError(
            f"FLASK_CONFIG={chosen} cannot run in the production image (debug and placeholder"
            " secrets are for `make dev`, which runs the development image); use production"
        )
    return config_class(source, database_only=database_only, jobs_only=jobs_only)
