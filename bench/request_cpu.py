#!/usr/bin/env python3
"""CPU time per `GET /healthz` inside the app, without a server: the production app against a
bare Flask app whose one route returns the same JSON (docs/performance.md, "Where the time
goes"). Run from the repository with its virtualenv: `.venv/bin/python bench/request_cpu.py
[REQUESTS] [--writer] [--profile] [--redis URL]`. Nothing is contacted: /healthz needs no
database or Redis.

--redis URL also measures a cached item read (`GET /api/items/<id>`, a cache hit) against the
Redis at URL, and the same read with the store's answer taken from memory instead of Redis:
the difference is what the Redis round trip costs the app. Last, the store's read alone in a
loop. The item lives in a throwaway Postgres (the unit tests', tests/support/postgres.py: Docker
and the stack's image); only the first read goes there.

The production app is built as gunicorn builds it: FLASK_CONFIG=production, gunicorn.conf.py's
logging (the lines go to /dev/null), Prometheus multiprocess files in a temporary directory,
trusted proxies, and each request carries nginx's X-Forwarded-* and X-Request-ID headers.
--writer starts the log writer thread as each gunicorn worker does; --profile adds cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import logging.config
import os
import pstats
import runpy
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ENVIRON = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/healthz",
    "QUERY_STRING": "",
    "SERVER_NAME": "app",
    "SERVER_PORT": "8000",
    "SERVER_PROTOCOL": "HTTP/1.0",
    "REMOTE_ADDR": "10.0.0.5",
    "REMOTE_PORT": "40000",
    "HTTP_HOST": "localhost",
    "HTTP_X_FORWARDED_FOR": "203.0.113.7",
    "HTTP_X_FORWARDED_PROTO": "https",
    "HTTP_X_FORWARDED_HOST": "localhost",
    "HTTP_X_FORWARDED_PORT": "443",
    "HTTP_X_REQUEST_ID": "a" * 32,
    "HTTP_USER_AGENT": "wrk",
    "wsgi.url_scheme": "http",
    "wsgi.errors": sys.stderr,
    "wsgi.multithread": True,
    "wsgi.multiprocess": True,
    "wsgi.run_once": False,
    "wsgi.version": (1, 0),
}


def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
    start_response.status = status  # type: ignore[attr-defined]


def serve(app: Any, count: int, path: str = "/healthz") -> None:
    environ = {**ENVIRON, "PATH_INFO": path}
    for _ in range(count):
        body = app({**environ, "wsgi.input": io.BytesIO(b"")}, start_response)
        for _chunk in body:
            pass
        getattr(body, "close", lambda: None)()
    if not start_response.status.startswith("200"):  # type: ignore[attr-defined]
        raise SystemExit(f"{path} answered {start_response.status}")  # type: ignore[attr-defined]


def flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


def cpu_per_request(app: Any, count: int, path: str = "/healthz") -> float:
    serve(app, 500, path)  # warm-up
    flush_logs()
    started = time.process_time()  # every thread of the process, the log writer's included
    serve(app, count, path)
    flush_logs()
    return (time.process_time() - started) / count * 1e6


class ReadFromMemory:
    """The cache store with its read answered from memory: what was read from Redis once."""

    def __init__(self, store: Any, key: str) -> None:
        self.store = store
        self.answer = store.read(key)

    def read(self, key: str) -> tuple[bytes | None, str]:
        return self.answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def cached_item(app: Any) -> tuple[str, str]:
    """Create an item and cache it; the path of its read and its cache key."""
    from app import migration_job
    from app.caching import cache_read
    from app.items import service

    if migration_job.main() != 0:
        raise SystemExit("the migrations failed on the throwaway database")
    with app.test_request_context():
        item_id = service.create_item({"name": "cpu", "description": "a cached item"})["id"]
        service.get_item(item_id)  # a miss, stored
        key = service.item_key(item_id)
        if cache_read(key).value is None:
            raise SystemExit("the item was not cached: is Redis reachable at --redis?")
    return f"/api/items/{item_id}", key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requests", type=int, nargs="?", default=20_000)
    parser.add_argument("--writer", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--redis", metavar="URL")
    args = parser.parse_args()

    metrics_dir = tempfile.mkdtemp(prefix="request-cpu-")
    if args.redis:
        from tests.support import postgres

        os.environ.update(REDIS_URL=args.redis, DATABASE_URL=postgres.throwaway_database())
    os.environ.update(
        FLASK_CONFIG="production",
        SECRET_KEY="q7Zx" * 12,
        POSTGRES_PASSWORD="unused-by-healthz",
        TRUSTED_PROXIES="10.0.0.0/8",
        PROMETHEUS_MULTIPROC_DIR=metrics_dir,
        SERVER_NAME="localhost",
    )
    gunicorn_conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    logging.config.dictConfig(gunicorn_conf["logconfig_dict"])
    devnull = open(os.devnull, "w")  # noqa: SIM115 (open for the whole run)
    for handler in logging.getLogger().handlers:
        handler.stream = devnull  # type: ignore[attr-defined]

    from flask import Flask, jsonify

    from app import create_app

    production = create_app()
    if args.writer:
        from app.logs import start_log_writers

        start_log_writers()
    bare = Flask("bare")
    bare.get("/healthz")(lambda: jsonify(status="ok"))

    results: dict[str, list[float]] = {"bare": [], "production": [], "no_access_line": []}
    if args.redis:
        from app.caching import STORE_KEY

        item_path, item_key = cached_item(production)
        redis_store = production.extensions[STORE_KEY]
        from_memory = ReadFromMemory(redis_store, item_key)
        results.update(cached_read_redis=[], cached_read_memory=[])
    access = logging.getLogger("app.access")
    for _ in range(3):
        results["bare"].append(cpu_per_request(bare, args.requests))
        results["production"].append(cpu_per_request(production, args.requests))
        access.disabled = True
        results["no_access_line"].append(cpu_per_request(production, args.requests))
        access.disabled = False
        if args.redis:
            for name, store in (("redis", redis_store), ("memory", from_memory)):
                production.extensions[STORE_KEY] = store
                results[f"cached_read_{name}"].append(
                    cpu_per_request(production, args.requests, item_path)
                )
            production.extensions[STORE_KEY] = redis_store
    for name, values in results.items():
        runs = ", ".join(f"{v:.0f}" for v in values)
        print(f"{name:18} {min(values):7.1f} us CPU per request (least of 3: {runs})")
    bare_us, prod_us = min(results["bare"]), min(results["production"])
    line_us = prod_us - min(results["no_access_line"])
    print(f"production / bare = {prod_us / bare_us:.2f}; the access line {line_us:.1f} us")
    if args.redis:
        redis_us, memory_us = min(results["cached_read_redis"]), min(results["cached_read_memory"])
        print(
            f"cached read: {redis_us - prod_us:.1f} us more than /healthz, of which the Redis "
            f"round trip {redis_us - memory_us:.1f} us"
        )
        with production.app_context():
            started = time.process_time()
            for _ in range(args.requests):
                redis_store.read(item_key)
            alone_us = (time.process_time() - started) / args.requests * 1e6
        print(f"the same Redis read {args.requests} times in a row, no request around it: "
              f"{alone_us:.1f} us each")  # fmt: skip
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        serve(production, args.requests)
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
