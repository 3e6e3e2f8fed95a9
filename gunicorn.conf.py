"""Gunicorn settings: every value comes from an environment variable with a default.

Gunicorn reads this file from its working directory (/app in the image). Check a change with
`gunicorn --check-config`. Sizing: GUNICORN_WORKERS x GUNICORN_THREADS requests run at once
per container; the database pool per worker is sized from the same threads (app/config.py).

The master never imports the app (only pyservice/, the services' shared package): what it
imports before it forks, every worker inherits, and under `make dev` a reloaded worker would
still run the master's copy. The app's own settings are checked in a process of its own
(app/preflight.py) before any worker starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from pyservice.gunicorn import gunicorn_threads
from pyservice.settings import EX_CONFIG, Env, SettingsError

_env = Env(os.environ)


def _read(read: Callable[..., Any], *args: Any) -> Any:
    """READ(*ARGS); a setting that cannot be used stops gunicorn with one line, exit 78."""
    try:
        return read(*args)
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr, flush=True)
        sys.exit(EX_CONFIG)


def _env_int(name: str, default: int, minimum: int = 0) -> int:
    return _read(_env.int, name, default, minimum)


def _env_float(name: str, default: float) -> float:
    return _read(_env.float, name, default, 0.0)


# --- What to serve and where -------------------------------------------------------------
wsgi_app = os.environ.get("GUNICORN_APP", "app:create_app()")
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# nginx is the only client; ProxyFix in the app reads X-Forwarded-*, so gunicorn trusts
# forwarded headers from no one but itself.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")

# nginx bounds request and header lines (16 KiB) and the headers' total (64 KiB) before
# anything reaches gunicorn (nginx/templates/nginx.conf.template). gunicorn's own limits are
# off (0) or at their maximum, so gunicorn never refuses with an HTML page of its own what nginx
# let through: the app answers it with the contract's JSON.
limit_request_line = 0
limit_request_fields = 32768
limit_request_field_size = 0

# --- Workers ------------------------------------------------------------------------------
workers = _env_int("GUNICORN_WORKERS", 2, minimum=1)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
# One definition, shared with the database pool size it implies (pyservice/gunicorn.py).
threads = _read(gunicorn_threads, _env)
# Worker recycling is off (0) by default: measured (docs/performance.md), every recycle under
# load closed keep-alive connections that nginx was about to reuse, and a POST sent on one got
# a 502 (nginx retries only idempotent requests). If your code leaks, set a high value such as
# 100000 with a 10 % jitter, so that workers do not restart together.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 0)
# A worker silent for this long is killed and replaced; with gthread workers, a worker with a
# request running longer than this is recycled too (see the request watchdog below).
timeout = _env_int("GUNICORN_TIMEOUT", 30)
# On SIGTERM, in-flight requests get this long to finish (compose's stop_grace_period is longer).
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 20)
# Seconds an idle client connection stays open (nginx opens one per request: see nginx/).
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)
# Heartbeat files in memory: a read-only root filesystem and no disk stalls.
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", "/dev/shm")
preload_app = _read(_env.bool, "GUNICORN_PRELOAD", False)

# --- Logs: JSON on stdout; the app writes the one access line per request ------------------
# The stack's one schema (pyservice/logs.py). In each worker the lines go out through one
# writer thread (started in post_worker_init below), so that no request thread waits on the
# stdout pipe; the app adds the request id to its workers' lines (app/logs.py).
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
accesslog = None
errorlog = "-"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "pyservice.logs.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "pyservice.logs.WriterThreadHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        }
    },
    "root": {"level": loglevel.upper(), "handlers": ["stdout"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stdout"], "propagate": False},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}

# --- Metrics: prometheus multiprocess mode ------------------------------------------------
# PROMETHEUS_MULTIPROC_DIR is set in the image and lives on a tmpfs. Each worker writes its
# samples there; the master serves their sum on METRICS_PORT, which nginx never exposes.
metrics_port = _env_int("METRICS_PORT", 9100)


# On SIGTERM, keep serving this many seconds before the graceful stop begins. An orchestrator
# that takes a replica out of DNS as it stops it (Swarm) needs this: until nginx's cached
# answer expires, it still sends new requests here, and a POST that lands in the listen
# backlog as the socket closes cannot be retried. 0 (Compose, where make deploy switches
# nginx first) stops at once.
shutdown_delay = _env_float("GUNICORN_SHUTDOWN_DELAY", 0.0)


def _delay_sigterm(server) -> None:
    graceful_stop = server.handle_term

    def handle_term() -> None:
        server.log.info("SIGTERM: serving %.1f s more, then stopping gracefully", shutdown_delay)
        time.sleep(shutdown_delay)  # workers keep serving; only the master waits
        graceful_stop()

    server.handle_term = handle_term


def on_starting(server) -> None:
    """Refuse to start with a bad configuration, before any worker serves a request: the
    app's settings are checked, and the metrics directory emptied, by app/preflight.py in a
    process of its own (its one line on stderr and its exit code are the master's)."""
    if shutdown_delay > 0:
        _delay_sigterm(server)
    code = subprocess.run([sys.executable, "-m", "app.preflight"], check=False).returncode
    if code != 0:
        sys.exit(code)


def when_ready(server) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_flask_exporter.multiprocess import GunicornPrometheusMetrics

        GunicornPrometheusMetrics.start_http_server_when_ready(metrics_port)


_worker_exits = None


def child_exit(server, worker) -> None:
    """Drop the dead worker's live gauges and count the exit (the master replaces it)."""
    global _worker_exits
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import Counter
        from prometheus_flask_exporter.multiprocess import GunicornPrometheusMetrics

        GunicornPrometheusMetrics.mark_process_dead_on_child_exit(worker.pid)
        # Created on first use, after on_starting emptied the directory its samples live in.
        if _worker_exits is None:
            _worker_exits = Counter(
                "app_gunicorn_worker_exits", "Gunicorn workers that exited (and were replaced)"
            )
        _worker_exits.inc()


# --- Request watchdog (gthread) -----------------------------------------------------------
# gunicorn's timeout watches a worker's heartbeat, which a gthread worker's main loop keeps
# beating while one of its threads hangs. To give slow requests the same fate as under sync
# workers, each worker notes when its requests start; a request older than `timeout` makes the
# worker stop gracefully (SIGTERM to itself: in-flight requests get graceful_timeout, then the
# master kills and replaces it). nginx has already answered that client 504 (its read timeout
# is shorter), and the other workers keep serving.
_requests_started: dict[int, float] = {}


def pre_request(worker, req) -> None:
    _requests_started[threading.get_ident()] = time.monotonic()


def post_request(worker, req, environ, resp) -> None:
    _requests_started.pop(threading.get_ident(), None)


def post_worker_init(worker) -> None:
    from pyservice.logs import start_log_writers

    start_log_writers()
    if worker.cfg.worker_class_str != "gthread" or worker.cfg.timeout <= 0:
        return

    def watch() -> None:
        while worker.alive:
            time.sleep(1)
            started = min(_requests_started.values(), default=None)
            if started is not None and time.monotonic() - started > worker.cfg.timeout:
                worker.log.error(
                    "a request has run for more than %s s: recycling worker %s",
                    worker.cfg.timeout,
                    worker.pid,
                )
                os.kill(worker.pid, signal.SIGTERM)
                return

    threading.Thread(target=watch, name="request-watchdog", daemon=True).start()
