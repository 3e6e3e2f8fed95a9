#!/usr/bin/env python3
"""`make bench`: load-test the running stack with wrk and report throughput and latency.

Runs six scenarios one after another against the stack named by COMPOSE_PROJECT_NAME (the
Compose default, flask-stack, when unset):

  static          a fingerprinted static file served by nginx (the ceiling)
  healthz         GET /healthz through nginx (the framework floor)
  healthz_direct  GET /healthz straight to gunicorn (app:8000) from a container in nginx's
                  network namespace: the difference to `healthz` is the edge's cost
  item_cached     GET /api/items/<id>, the same id every time (served from Redis)
  items_list      GET /api/items?limit=20 (lists are never cached: two queries per request)
  item_create     POST /api/items (one INSERT and a cache invalidation per request)

Then, in this order (each can be named in BENCH_SCENARIOS too):

  fixed_rate   every app scenario again with h2load at a constant rate of half the peak wrk
               measured for it (--rps, HTTP/1.1): p50, p99, p99.9 from h2load's request log
  http2        /healthz and the cached read over HTTP/2, BENCH_H2_CONNECTIONS connections
               with BENCH_H2_STREAMS streams each, at saturation
  large_table  BENCH_LARGE_ROWS rows seeded with one INSERT ... generate_series as the schema's
               owner (then ANALYZE); the list's first page and a deep page (by cursor when the
               API returns `next_cursor`, else by offset); the rows are removed afterwards
  imports      BENCH_IMPORTS imports of BENCH_IMPORT_SIZE items each, posted at once through the
               edge and followed until the worker has applied them all: items per second
  peers        the app swapped for each peer in turn (bench/peer_swap.py, bench/peers/):
               the Flask guide's gunicorn recipe, a bare Flask app, Granian; the peers
               alternate (stack recipe bare granian granian bare recipe stack for 2 rounds) and
               the stack's own app is back at the end, checked identical, even on failure

wrk and h2load run in a small image built from bench/Dockerfile on PYTHON_IMAGE. Every scenario
except `healthz_direct` goes over HTTPS to 127.0.0.1:HTTPS_PORT only. For the run, nginx is
recreated with a high RATE_LIMIT/RATE_BURST (so the per-client limit does not turn the load
into 429s) and recreated again with the caller's settings afterwards, even on failure or
Ctrl-C. Apart from the peers' swaps of the app, nothing else about the stack is changed.

Settings (environment): BENCH_DURATION (s, default 10), BENCH_CONNECTIONS (64),
BENCH_THREADS (2), BENCH_WARMUP (s, 2), BENCH_TIMEOUT (s, wrk's per-request timeout, 5),
BENCH_SCENARIOS (comma-separated subset), BENCH_SEED_ITEMS (rows present before the list
scenario, 100), BENCH_IMPORTS (4), BENCH_IMPORT_SIZE (2000), BENCH_RATE_LIMIT (100000r/s),
BENCH_RATE_BURST (100000), BENCH_RESULTS_DIR (results), BENCH_RATE_DURATION (s, as
BENCH_DURATION), BENCH_H2_CONNECTIONS (8), BENCH_H2_STREAMS (10), BENCH_LARGE_ROWS (1000000;
0 skips), BENCH_PEERS (stack,recipe,bare,granian; none skips), BENCH_PEER_ROUNDS (2),
BENCH_PEER_DURATION (s, as BENCH_DURATION), BENCH_CONNECTION_CLOSE (0; 1 sends
Connection: close with every wrk request). `--smoke` shortens everything (1 s, 8
connections, no warm-up, 4 HTTP/2 connections of 100 requests, 2 000 large-table rows, one
round of peers, 2 imports of 200 items) and exits 1 unless every scenario, peer and phase
produced requests and no errors, and every import was applied.

Output: a table on stdout and the same figures in results/bench-<UTC timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import cpu  # noqa: E402  (bench/cpu.py: CPU time per request, by container)
import latency  # noqa: E402  (bench/latency.py: h2load's output, percentiles, peer ratios)
import peer_swap  # noqa: E402  (bench/peer_swap.py: the app as each peer, and back)
import report  # noqa: E402  (bench/report.py: the targets and the tables printed)

from tests.support import settings  # noqa: E402  (the stack as Compose resolves it)
from tests.support.stack import compose, drop_cache_entry, psql  # noqa: E402

BENCH_DIR = ROOT / "bench"

# (key, description, where the load comes from, whether it is an app scenario)
SCENARIOS = [
    ("static", "static file via nginx (ceiling)", "host", False),
    ("healthz", "/healthz via nginx", "host", True),
    ("healthz_direct", "/healthz direct to gunicorn", "edge", True),
    ("item_cached", "GET /api/items/<id> (cached)", "host", True),
    ("items_list", "GET /api/items?limit=20 (uncached)", "host", True),
    ("item_create", "POST /api/items (write)", "host", True),
]

# What runs after the wrk scenarios, in this order; BENCH_SCENARIOS may name them too.
PHASES = ["fixed_rate", "http2", "large_table", "imports", "peers"]


class BenchError(Exception):
    """A failure that stops the run with one line."""


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BenchError(f"{name} must be an integer, not {raw!r}") from None
    if value < 0:
        raise BenchError(f"{name} must not be negative")
    return value


def run(
    cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"timed out after {timeout:.0f} s: {' '.join(cmd)}") from None
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise BenchError(f"failed ({result.returncode}): {' '.join(cmd)}\n  " + "\n  ".join(detail))
    return result


class Stack:
    """The running Compose project this run measures."""

    def __init__(self) -> None:
        self.project = settings.PROJECT
        self.https_port = settings.HTTPS_PORT
        bind = settings.BIND_ADDRESS
        if bind not in {"127.0.0.1", "0.0.0.0"}:
            raise BenchError(f"BIND_ADDRESS is {bind}: the bench only loads 127.0.0.1")
        # A host name, so TLS carries it (SNI): nginx refuses handshakes that name no host.
        self.base = f"https://localhost:{self.https_port}"
        self.tls = ssl.create_default_context()
        self.tls.check_hostname = False  # the stack's self-signed certificate
        self.tls.verify_mode = ssl.CERT_NONE

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        result = compose(*args, check=False, timeout=timeout)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise BenchError(f"docker compose {' '.join(args)} failed: " + " / ".join(detail))
        return result

    def services(self) -> dict[str, dict[str, Any]]:
        out = self.compose("ps", "--format", "json").stdout.strip()
        if not out:
            return {}
        if out.startswith("["):  # older Compose: one JSON array
            rows = json.loads(out)
        else:  # newer Compose: one object per line
            rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        return {row["Service"]: row for row in rows}

    def container_ids(self) -> dict[str, str]:
        """The full id of each running service's container (one per service here)."""
        ids = {name: row["ID"] for name, row in self.services().items()}
        if not ids:
            return {}
        out = run(["docker", "inspect", "--format", "{{.Id}}", *ids.values()]).stdout.split()
        return {name: full for name, full in zip(ids, out, strict=True)}

    def check_running(self) -> dict[str, dict[str, Any]]:
        services = self.services()
        missing = [name for name in ("nginx", "app") if name not in services]
        if missing:
            raise BenchError(
                f"project {self.project!r} has no running {', '.join(missing)}: "
                "start it first with `make up` (same COMPOSE_PROJECT_NAME and ports)"
            )
        for name in ("nginx", "app"):
            health = services[name].get("Health") or ""
            if services[name].get("State") != "running" or health not in {"healthy", ""}:
                raise BenchError(f"{name} is {services[name].get('State')}/{health}: not healthy")
        return services

    def beside_nginx(self) -> str:
        """A Docker network mode that puts the load generator in nginx's network namespace:
        it reaches the app as nginx does, from the one peer the app serves (app/proxy.py)."""
        nginx = self.compose("ps", "-q", "nginx").stdout.strip()
        if not nginx:
            raise BenchError("nginx is not running")
        return f"container:{nginx}"

    def edge_limits(self, *args: str) -> None:
        """Raise the edge's rate limits for the run, or restore them (scripts/edge-limits.sh)."""
        run([str(ROOT / "scripts" / "edge-limits.sh"), *args], timeout=180)

    def http(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, context=self.tls, timeout=10) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw

    def app_settings(self, services: dict[str, dict[str, Any]]) -> dict[str, str]:
        env = json.loads(
            run(
                ["docker", "inspect", "--format", "{{json .Config.Env}}", services["app"]["ID"]]
            ).stdout
        )
        wanted = ("GUNICORN_", "DB_POOL", "DB_MAX_OVERFLOW")
        settings = {}
        for pair in env:
            key, _, value = pair.partition("=")
            if key.startswith(wanted):
                settings[key] = value
        return dict(sorted(settings.items()))


def python_image() -> str:
    """The stack's Python base image, as compose.yaml and images.env name it."""
    return run([str(ROOT / "scripts" / "python-image.sh")]).stdout.strip()


def build_loadgen(project: str, base_image: str) -> str:
    tag = f"{project}/bench:local"
    cmd = ["docker", "build", "-q", "-t", tag, "--build-arg", f"PYTHON_IMAGE={base_image}"]
    run([*cmd, str(BENCH_DIR)], timeout=600)
    return tag


def build_peers_image(project: str, base_image: str) -> str:
    """bench/peers/Dockerfile on the stack's app image: Granian and the bare Flask app."""
    tag = f"{project}/bench-peers:local"
    cmd = ["docker", "build", "-q", "-t", tag, "--build-arg", f"PYTHON_IMAGE={base_image}",
           "--build-arg", f"APP_IMAGE={project}/app:local"]  # fmt: skip
    run([*cmd, str(BENCH_DIR / "peers")], timeout=900)
    return tag


def seed(stack: Stack, rows: int) -> dict[str, str]:
    """Rows for the list scenario, one warm cached item, and the fingerprinted file's path."""
    status, manifest = stack.http("GET", "/static/manifest.json")
    if status != 200 or not isinstance(manifest, dict) or "css/site.css" not in manifest:
        raise BenchError(f"GET /static/manifest.json answered {status}")
    static_path = "/static/" + manifest["css/site.css"]
    status, page = stack.http("GET", "/api/items?limit=1")
    if status != 200:
        raise BenchError(f"GET /api/items answered {status}: is the database up?")
    missing = max(0, min(rows, 10_000) - int(page["total"]))
    for number in range(missing):
        status, _ = stack.http(
            "POST", "/api/items", {"name": f"seed {number}", "description": "bench seed row"}
        )
        if status != 201:
            raise BenchError(f"seeding: POST /api/items answered {status}")
    status, item = stack.http("POST", "/api/items", {"name": "bench cached item"})
    if status != 201:
        raise BenchError(f"POST /api/items answered {status}")
    for _ in range(2):  # the first read fills the cache
        status, _ = stack.http("GET", f"/api/items/{item['id']}")
        if status != 200:
            raise BenchError(f"GET /api/items/{item['id']} answered {status}")
    log(f"seeded {missing} rows; cached item id {item['id']}; static file {static_path}")
    return {
        "static_path": static_path,
        "item_path": f"/api/items/{item['id']}",
        "items_total": str(int(page["total"]) + missing + 1),
    }


def import_throughput(stack: Stack, imports: int, size: int) -> dict[str, Any]:
    """Post IMPORTS imports of SIZE items at once; follow them until all are applied."""
    started = time.monotonic()
    ids = []
    for number in range(imports):
        items = [{"name": f"bench import {number}.{n}"} for n in range(size)]
        status, body = stack.http("POST", "/api/imports", {"items": items})
        if status != 202:
            raise BenchError(f"POST /api/imports answered {status}: {body}")
        ids.append(body["id"])
    deadline = started + 600
    pending = set(ids)
    failed = 0
    while pending and time.monotonic() < deadline:
        for import_id in sorted(pending):
            status, body = stack.http("GET", f"/api/imports/{import_id}")
            if status == 200 and body["status"] in ("succeeded", "failed"):
                pending.discard(import_id)
                failed += body["status"] == "failed"
        time.sleep(0.1)
    seconds = time.monotonic() - started
    if pending:
        raise BenchError(f"{len(pending)} imports not applied after 600 s")
    items = imports * size
    return {
        "imports": imports,
        "items": items,
        "failed": failed,
        "seconds": round(seconds, 2),
        "items_per_s": round(items / seconds, 1),
    }


class Wrk:
    def __init__(
        self,
        image: str,
        stack: Stack,
        threads: int,
        connections: int,
        timeout_s: int,
        close: bool = False,
    ) -> None:
        self.image, self.stack = image, stack
        self.threads, self.connections, self.timeout_s = threads, connections, timeout_s
        # Connection: close on every request (BENCH_CONNECTION_CLOSE): what a new connection
        # per request costs, against the default keep-alive.
        self.close = close

    def measure(self, key: str, where: str, url: str, seconds: int, post: bool) -> dict[str, Any]:
        """A measured run: wrk's figures, and the CPU per request of each container and of the
        rest of the machine over the run (bench/cpu.py; the window includes starting wrk's
        container, which counts outside the stack)."""
        containers = self.stack.container_ids()
        first = cpu.Sample(containers)
        raw = self.run(key, where, url, seconds, post)
        row = latency.wrk_summary(raw)
        row["cpu_us_per_request"] = cpu.between(first, cpu.Sample(containers), raw["requests"])
        return row

    def run(self, key: str, where: str, url: str, seconds: int, post: bool) -> dict[str, Any]:
        name = f"{self.stack.project}-bench-{key}-{os.getpid()}"
        # nginx is recreated for the run (its limits raised): look its namespace up each time.
        network = "host" if where == "host" else self.stack.beside_nginx()
        cmd = [
            "docker",
            "run",
            "--rm",
            "--name",
            name,
            "--network",
            network,
            "--label",
            f"flask-stack.bench={self.stack.project}",
            self.image,
            f"-t{min(self.threads, self.connections)}",
            f"-c{self.connections}",
            f"-d{seconds}s",
            f"--timeout={self.timeout_s}s",
            "--latency",
            "-s",
            "/bench/bench.lua",
            url,
        ]
        args = (["post"] if post else []) + (["close"] if self.close else [])
        if args:
            cmd += ["--", *args]
        try:
            result = run(cmd, timeout=seconds + 60, check=False)
        except BenchError:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=30)
            raise
        match = re.search(r"^BENCH_JSON (\{.*\})$", result.stdout, re.M)
        if result.returncode != 0 or not match:
            tail = (result.stderr or result.stdout).strip()[-400:]
            raise BenchError(f"wrk failed for {key} ({result.returncode}): {tail}")
        return json.loads(match.group(1))


class H2load:
    """h2load (nghttp2-client, in the bench image): a constant rate (--rps, per client) over
    HTTP/1.1, and HTTP/2 with multiplexed streams. Latency percentiles come from its
    per-request log (--log-file), which bench/latency.py parses: h2load itself prints only
    min, max, mean and sd."""

    def __init__(self, image: str, stack: Stack) -> None:
        self.image, self.stack = image, stack

    def run(
        self,
        key: str,
        where: str,
        url: str,
        seconds: int,
        *,
        clients: int,
        rps: float | None = None,
        streams: int = 1,
        http1: bool = True,
        post: bool = False,
        requests: int | None = None,
    ) -> dict[str, Any]:
        """SECONDS of load, or, given REQUESTS, that many requests spread over the clients
        (for as long as they take)."""
        name = f"{self.stack.project}-bench-h2load-{key}-{os.getpid()}"
        network = "host" if where == "host" else self.stack.beside_nginx()
        cmd = [
            "docker", "run", "--rm", "--name", name, "--network", network,
            "--label", f"flask-stack.bench={self.stack.project}",
            "--entrypoint", "h2load", self.image,
            f"--clients={clients}", f"--threads={min(2, clients)}",
            f"--max-concurrent-streams={streams}",
            f"--requests={requests}" if requests else f"--duration={seconds}",
            "--log-file=/dev/stdout",
            # The app serves the stack's host names only, also when called directly.
            "--header=:authority: localhost",
        ]  # fmt: skip
        if http1:
            cmd.append("--h1")
        if rps is not None:
            cmd.append(f"--rps={rps}")
        if post:
            cmd += ["--data=/bench/item.json", "--header=content-type: application/json"]
        cmd.append(url)
        try:
            result = run(cmd, timeout=300 if requests else seconds + 90, check=False)
        except BenchError:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=30)
            raise
        log_text, summary_text = latency.split_output(result.stdout)
        try:
            summary = latency.parse_summary(summary_text)
            figures = latency.latency_figures(latency.parse_request_log(log_text))
        except latency.ParseError as error:
            tail = (result.stderr or "").strip()[-300:]
            raise BenchError(
                f"h2load failed for {key} ({result.returncode}): {error} {tail}"
            ) from None
        return {
            "requests": summary["done"],
            "seconds": round(summary["seconds"], 3),
            "rps": round(summary["done"] / summary["seconds"], 1) if summary["seconds"] else 0.0,
            **figures,
            "errors": summary["errors"],
            "status": summary["status"],
            "protocol": summary["protocol"],
            "clients": clients,
            "streams": streams,
        }


def fixed_rate(
    h2load: H2load,
    scenarios: dict[str, dict[str, Any]],
    urls: dict[str, str],
    seconds: int,
    max_clients: int,
) -> dict[str, dict[str, Any]]:
    """Every app scenario again, at a constant rate of half the peak wrk measured for it."""
    rows = {}
    for key, description, where, is_app in SCENARIOS:
        if not is_app or not scenarios.get(key, {}).get("rps"):
            continue
        clients, per_client = latency.fixed_rate_plan(
            scenarios[key]["rps"], max_clients=max_clients
        )
        offered = round(clients * per_client, 1)
        log(f"fixed rate {key}: {offered} req/s ({clients} clients x {per_client}), {seconds} s")
        row = h2load.run(
            f"rate-{key}", where, urls[key], seconds, clients=clients, rps=per_client,
            post=key == "item_create",
        )  # fmt: skip
        row.update(description=description, offered_rps=offered, peak_rps=scenarios[key]["rps"])
        row["read"] = key != "item_create"
        rows[key] = row
    return rows


# Under nginx's keepalive_requests (1 000, its default): see http2().
H2_REQUESTS_PER_CONNECTION = 900
# A smoke run needs figures, not a steady state.
H2_SMOKE_REQUESTS_PER_CONNECTION = 100


def http2(
    h2load: H2load,
    urls: dict[str, str],
    seconds: int,
    clients: int,
    streams: int,
    per_connection: int = H2_REQUESTS_PER_CONNECTION,
) -> dict[str, dict[str, Any]]:
    """/healthz and the cached read over HTTP/2 as browsers use it: few connections, many
    streams on each, at saturation. A count of requests, not a duration: nginx closes an HTTP/2
    connection after `keepalive_requests` (1 000) requests, refusing the streams in flight, and
    h2load, unlike a browser, does not open another, so a timed run would measure idle clients
    and count the refused streams as errors. Each connection makes PER_CONNECTION requests
    (H2_REQUESTS_PER_CONNECTION but in a smoke run), and the rate is the requests over the time
    they took."""
    rows = {}
    for key, target in (("h2_healthz", "healthz"), ("h2_item_cached", "item_cached")):
        requests = clients * per_connection
        log(f"{key}: HTTP/2, {clients} connections x {streams} streams, {requests} requests")
        row = h2load.run(
            key, "host", urls[target], seconds, clients=clients, streams=streams, http1=False,
            requests=requests,
        )  # fmt: skip
        if row["protocol"] != "h2":
            raise BenchError(f"{key}: h2load negotiated {row['protocol']!r}, not h2")
        rows[key] = row
    return rows


def owner_psql(sql: str, timeout: float = 600) -> str:
    """One SQL script as the schema's owner (the role the migrations use, docs/security.md),
    over the postgres container's local socket."""
    owner = settings.compose_config()["services"]["db-setup"]["environment"]["DB_OWNER"]
    try:
        return psql(sql, user=owner, timeout=timeout)
    except subprocess.CalledProcessError as error:
        detail = (error.stderr or error.stdout or "").strip().splitlines()[-3:]
        raise BenchError(f"psql as {owner} failed: " + " / ".join(detail)) from None


LARGE_MARK = "bench large-table row"


def large_table(stack: Stack, wrk: Wrk, rows: int, seconds: int, warmup: int) -> dict[str, Any]:
    """Seed ROWS items in one INSERT ... generate_series (then ANALYZE), measure the list's
    first page and a deep page (by cursor where the API gives one, else by offset), and remove
    the seeded rows again, whatever happens."""
    before = int(owner_psql("SELECT coalesce(max(id), 0) FROM items"))
    log(f"large table: seeding {rows} rows")
    started = time.monotonic()
    try:
        owner_psql(
            f"INSERT INTO items (name, description) SELECT 'bench large ' || g, '{LARGE_MARK}' "
            f"FROM generate_series(1, {rows}) AS g; ANALYZE items;",
        )
        seed_s = round(time.monotonic() - started, 1)
        deep = rows * 9 // 10
        status, page = stack.http("GET", f"/api/items?limit=20&offset={deep}")
        if status != 200:
            raise BenchError(f"GET /api/items?offset={deep} answered {status}")
        deep_path, mode = latency.deep_page_path(page, deep)
        if mode != "cursor":
            log(
                "large table: cursor pagination not available (no next_cursor): deep page by offset"
            )
        result: dict[str, Any] = {"rows": rows, "seed_s": seed_s, "deep_position": deep,
                                  "deep_mode": mode}  # fmt: skip
        for key, path in (("first_page", "/api/items?limit=20"), ("deep_page", deep_path)):
            url = stack.base + path
            if warmup:
                wrk.run(f"large-{key}", "host", url, warmup, False)
            log(f"large table {key}: GET {path[:60]}, {seconds} s")
            row = wrk.measure(f"large-{key}", "host", url, seconds, False)
            row["url"] = url
            result[key] = row
        return result
    finally:
        log("large table: removing the seeded rows")
        owner_psql(
            f"DELETE FROM items WHERE id > {before} AND description = '{LARGE_MARK}'; "
            "ANALYZE items;",
        )
        drop_cache_entry("stats")  # the statistics cached while the rows were there


def peers_phase(
    stack: Stack,
    wrk: Wrk,
    urls: dict[str, str],
    peers: list[str],
    rounds: int,
    seconds: int,
    warmup: int,
) -> dict[str, Any]:
    """Each peer's scenarios, the peers alternating (latency.alternation): the app is swapped
    for each peer in turn (bench/peer_swap.py) and the stack's own is always back at the end,
    checked identical to the one before; on failure or Ctrl-C too."""
    before = peer_swap.fingerprint(peer_swap.inspect_app(compose))
    order = latency.alternation(peers, rounds)
    runs = []
    current = "stack"
    try:
        for peer in order:
            if peer != current:
                log(f"peers: recreating the app as {peer!r}")
                swap_started = time.monotonic()
                try:
                    peer_swap.swap(compose, peer)
                except RuntimeError as error:
                    current = "?"
                    raise BenchError(str(error)) from None
                current = peer
                log(f"peers: {peer!r} healthy after {time.monotonic() - swap_started:.0f} s")
            since = datetime.now(UTC).isoformat(timespec="seconds")
            figures = {}
            for index, key in enumerate(peer_swap.PEER_SCENARIOS[peer]):
                post = key == "item_create"
                # Never measured cold, smoke included: healthy means one worker answers, and
                # the others may still be importing the app (five of them for the recipe). A
                # smoke run (no warm-up asked) warms each peer once, before its first scenario.
                if warmup or index == 0:
                    wrk.run(f"peer-{peer}-{key}", "host", urls[key], max(warmup, 1), post)
                log(f"peer {peer} {key}: {seconds} s")
                figures[key] = wrk.measure(f"peer-{peer}-{key}", "host", urls[key], seconds, post)
            found = log_findings(stack, since)
            runs.append({
                "peer": peer,
                "scenarios": figures,
                "worker_restarts": found.get("gunicorn_worker_restarts", 0),
                "app_mib": memory(stack.project).get("app", {}).get("mib"),
            })  # fmt: skip
    finally:
        if current != "stack":
            log("peers: recreating the stack's own app")
            peer_swap.swap(compose, "stack")
    after = peer_swap.fingerprint(peer_swap.inspect_app(compose))
    changed = sorted(key for key in before if before[key] != after[key])
    if changed:
        raise BenchError(f"the app restored after the peers differs in {', '.join(changed)}")
    table = latency.peer_table(runs, "stack")
    for peer, scenarios in table.items():
        mine = [run for run in runs if run["peer"] == peer]
        scenarios_meta = {
            "description": peer_swap.PEERS[peer][1],
            "worker_restarts": sum(run["worker_restarts"] for run in mine),
            "app_mib": max((run["app_mib"] or 0) for run in mine),
        }
        table[peer] = {"scenarios": scenarios, **scenarios_meta}
    return {"order": order, "rounds": rounds, "runs": runs, "table": table,
            "recipe_workers": peer_swap.recipe_workers()}  # fmt: skip


def docker_version() -> str:
    return run(["docker", "version", "--format", "{{.Server.Version}}"]).stdout.strip()


def remove_loadgen_containers(project: str) -> None:
    """Remove wrk containers this bench started and left behind (after Ctrl-C, a timeout)."""
    ids = run(
        ["docker", "ps", "-aq", "--filter", f"label=flask-stack.bench={project}"], check=False
    ).stdout.split()
    for container in ids:
        run(["docker", "rm", "-f", container], check=False, timeout=60)


MEM_UNITS = {
    "B": 1 / 2**20,
    "KiB": 1 / 1024,
    "MiB": 1.0,
    "GiB": 1024.0,
    "kB": 1e3 / 2**20,
    "MB": 1e6 / 2**20,
    "GB": 1e9 / 2**20,
}


def parse_mib(text: str) -> float:
    match = re.match(r"\s*([\d.]+)\s*([A-Za-z]+)", text)
    if not match or match.group(2) not in MEM_UNITS:
        return float("nan")
    return round(float(match.group(1)) * MEM_UNITS[match.group(2)], 1)


def memory(project: str) -> dict[str, dict[str, float]]:
    ids = run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"]
    ).stdout.split()
    if not ids:
        return {}
    out = run(["docker", "stats", "--no-stream", "--format", "{{json .}}", *ids], timeout=60)
    figures = {}
    for line in out.stdout.splitlines():
        row = json.loads(line)
        used, _, limit = row["MemUsage"].partition("/")
        service = row["Name"].removeprefix(f"{project}-").rsplit("-", 1)[0]
        figures[service] = {"mib": parse_mib(used), "limit_mib": parse_mib(limit)}
    return dict(sorted(figures.items()))


def image_sizes(project: str) -> dict[str, float]:
    sizes = {}
    for name in ("app", "nginx"):
        out = run(
            ["docker", "image", "inspect", "--format", "{{.Size}}", f"{project}/{name}:local"],
            check=False,
        )
        if out.returncode == 0:
            sizes[name] = round(int(out.stdout.strip()) / 1e6, 1)  # MB, as `docker images`
    return sizes


def log_findings(stack: Stack, since: str) -> dict[str, Any]:
    """What the logs say about the run: nginx non-2xx and error lines, gunicorn worker restarts."""
    services = stack.services()
    findings: dict[str, Any] = {}
    if "nginx" in services:
        out = run(
            ["docker", "logs", "--since", since, services["nginx"]["ID"]], check=False, timeout=120
        )
        statuses: dict[str, int] = {}
        errors: dict[str, int] = {}
        for line in (out.stdout + out.stderr).splitlines():
            if line.startswith("{"):
                match = re.search(r'"status":(\d+)', line)
                if match and not match.group(1).startswith("2"):
                    statuses[match.group(1)] = statuses.get(match.group(1), 0) + 1
            elif "[error]" in line or "[crit]" in line or "[alert]" in line:
                message = re.sub(r"^.*?\*\d+ ", "", line)
                message = re.sub(r", client:.*$", "", message)
                errors[message] = errors.get(message, 0) + 1
        findings["nginx_non_2xx"] = dict(sorted(statuses.items()))
        findings["nginx_errors"] = dict(sorted(errors.items(), key=lambda kv: -kv[1])[:10])
    if "app" in services:
        out = run(
            ["docker", "logs", "--since", since, services["app"]["ID"]], check=False, timeout=120
        )
        text = out.stdout + out.stderr
        findings["gunicorn_worker_restarts"] = text.count("Booting worker with pid")
        findings["gunicorn_worker_timeouts"] = text.count("WORKER TIMEOUT")
    return findings


def latest_startup(results_dir: Path, project: str) -> dict[str, Any] | None:
    for path in sorted(results_dir.glob("startup-*.json"), reverse=True):
        data = json.loads(path.read_text())
        if data.get("project") == project:
            data["file"] = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
            return data
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="short run; exit 1 unless every scenario has figures and no errors",
    )
    parser.add_argument(
        "--build-only",
        action="store_true",
        help="build the load generator's and the peers' images (on the app's), nothing else",
    )
    args = parser.parse_args()
    if args.build_only:
        base_image = python_image()
        project = Stack().project
        build_loadgen(project, base_image)
        build_peers_image(project, base_image)
        return 0

    duration = env_int("BENCH_DURATION", 1 if args.smoke else 10)
    connections = env_int("BENCH_CONNECTIONS", 8 if args.smoke else 64)
    threads = env_int("BENCH_THREADS", 2)
    warmup = env_int("BENCH_WARMUP", 0 if args.smoke else 2)
    timeout_s = env_int("BENCH_TIMEOUT", 5)
    close = env_int("BENCH_CONNECTION_CLOSE", 0)
    if close > 1:
        raise BenchError("BENCH_CONNECTION_CLOSE must be 0 or 1")
    seed_rows = env_int("BENCH_SEED_ITEMS", 20 if args.smoke else 100)
    if not 1 <= duration <= 300:
        raise BenchError("BENCH_DURATION must be 1 to 300 seconds")
    if not 1 <= connections <= 1000 or not 1 <= threads <= 16:
        raise BenchError("BENCH_CONNECTIONS must be 1 to 1000 and BENCH_THREADS 1 to 16")
    selected = [s.strip() for s in os.environ.get("BENCH_SCENARIOS", "").split(",") if s.strip()]
    known = [key for key, *_ in SCENARIOS] + list(PHASES)
    unknown = [s for s in selected if s not in known]
    if unknown:
        raise BenchError(f"unknown BENCH_SCENARIOS {unknown}; known: {', '.join(known)}")
    results_dir = Path(os.environ.get("BENCH_RESULTS_DIR") or ROOT / "results")
    if not results_dir.is_absolute():
        results_dir = ROOT / results_dir

    peers = [p.strip() for p in os.environ.get("BENCH_PEERS", ",".join(peer_swap.PEERS)).split(",")]
    peers = [] if peers == ["none"] else [p for p in peers if p]
    if [p for p in peers if p not in peer_swap.PEERS]:
        raise BenchError(f"unknown BENCH_PEERS {peers}; known: {', '.join(peer_swap.PEERS)}, none")
    if peers and "stack" not in peers:
        peers.insert(0, "stack")  # the baseline of every ratio
    elif peers:
        peers.insert(0, peers.pop(peers.index("stack")))  # first: it runs already, no swap
    peer_rounds = env_int("BENCH_PEER_ROUNDS", 1 if args.smoke else 2)
    peer_duration = env_int("BENCH_PEER_DURATION", duration)
    rate_duration = env_int("BENCH_RATE_DURATION", duration)
    h2_streams = env_int("BENCH_H2_STREAMS", 10)
    h2_connections = env_int("BENCH_H2_CONNECTIONS", 4 if args.smoke else 8)
    large_rows = env_int("BENCH_LARGE_ROWS", 2000 if args.smoke else 1_000_000)
    if not 1 <= peer_rounds <= 10 or not 1 <= peer_duration <= 300 or not 1 <= rate_duration <= 300:
        raise BenchError("BENCH_PEER_ROUNDS must be 1 to 10, the durations 1 to 300 seconds")
    if not 1 <= h2_streams <= 100 or not 1 <= h2_connections <= 100:
        raise BenchError("BENCH_H2_STREAMS and BENCH_H2_CONNECTIONS must be 1 to 100")
    if large_rows > 10_000_000:
        raise BenchError("BENCH_LARGE_ROWS must be at most 10000000 (0 skips the scenario)")

    def wanted(phase: str) -> bool:
        return not selected or phase in selected

    stack = Stack()
    services = stack.check_running()
    settings = stack.app_settings(services)
    base_image = python_image()
    log(f"building the load generator image on {base_image}")
    image = build_loadgen(stack.project, base_image)
    wrk = Wrk(image, stack, threads, connections, timeout_s, close=bool(close))
    h2load = H2load(image, stack)
    if peers and wanted("peers"):
        log("building the peers' image (bench/peers/Dockerfile) on the app image")
        build_peers_image(stack.project, base_image)

    rate_limit = os.environ.get("BENCH_RATE_LIMIT") or "100000r/s"
    rate_burst = os.environ.get("BENCH_RATE_BURST") or "100000"
    started = datetime.now(UTC)
    scenarios: dict[str, dict[str, Any]] = {}
    imports: dict[str, Any] | None = None
    rate_rows: dict[str, dict[str, Any]] = {}
    h2_rows: dict[str, dict[str, Any]] = {}
    large: dict[str, Any] | None = None
    peer_results: dict[str, Any] | None = None
    log(f"recreating nginx with RATE_LIMIT={rate_limit} RATE_BURST={rate_burst}")
    stack.edge_limits("raise", rate_limit, rate_burst)
    try:
        paths = seed(stack, seed_rows)
        direct = os.environ.get("BENCH_APP_URL") or "http://app:8000"
        urls = {
            "static": stack.base + paths["static_path"],
            "healthz": stack.base + "/healthz",
            "healthz_direct": direct + "/healthz",
            "item_cached": stack.base + paths["item_path"],
            "items_list": stack.base + "/api/items?limit=20",
            "item_create": stack.base + "/api/items",
        }
        for key, description, where, _ in SCENARIOS:
            if selected and key not in selected:
                continue
            post = key == "item_create"
            if warmup:
                wrk.run(key, where, urls[key], warmup, post)
            log(f"{key}: {description}, {duration} s")
            row = wrk.measure(key, where, urls[key], duration, post)
            row.update(description=description, url=urls[key], source=where)
            scenarios[key] = row
        if wanted("fixed_rate"):
            rate_rows = fixed_rate(h2load, scenarios, urls, rate_duration, connections)
        if wanted("http2"):
            per_connection = (
                H2_SMOKE_REQUESTS_PER_CONNECTION if args.smoke else H2_REQUESTS_PER_CONNECTION
            )
            h2_rows = http2(h2load, urls, duration, h2_connections, h2_streams, per_connection)
        if large_rows and wanted("large_table"):
            large = large_table(stack, wrk, large_rows, duration, warmup)
            base_rps = scenarios.get("items_list", {}).get("rps")
            for key in ("first_page", "deep_page"):
                large[key]["ratio_to_items_list"] = (
                    round(large[key]["rps"] / base_rps, 4) if base_rps else None
                )
        if wanted("imports"):
            count = env_int("BENCH_IMPORTS", 2 if args.smoke else 4)
            size = env_int("BENCH_IMPORT_SIZE", 200 if args.smoke else 2000)
            if not 1 <= count <= 100 or not 1 <= size <= 5000:
                raise BenchError("BENCH_IMPORTS must be 1 to 100 and BENCH_IMPORT_SIZE 1 to 5000")
            log(f"imports: {count} imports of {size} items through the worker")
            imports = import_throughput(stack, count, size)
        mem = memory(stack.project)
        findings = log_findings(stack, started.isoformat(timespec="seconds"))
        if peers and wanted("peers"):
            peer_results = peers_phase(stack, wrk, urls, peers, peer_rounds, peer_duration, warmup)
    finally:
        remove_loadgen_containers(stack.project)
        log("recreating nginx with the stack's own rate limit")
        stack.edge_limits("restore")

    for row in scenarios.values():
        if scenarios.get("static", {}).get("rps"):
            row["ratio_to_static"] = round(row["rps"] / scenarios["static"]["rps"], 4)
        if scenarios.get("healthz", {}).get("rps"):
            row["ratio_to_healthz"] = round(row["rps"] / scenarios["healthz"]["rps"], 4)
    images = image_sizes(stack.project)
    results = {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "kernel": os.uname().release,
            "docker": docker_version(),
        },
        "config": {
            "project": stack.project,
            "duration_s": duration,
            "warmup_s": warmup,
            "connections": connections,
            "connection_close": bool(close),
            "threads": threads,
            "timeout_s": timeout_s,
            "rate_limit": rate_limit,
            "rate_burst": rate_burst,
            "smoke": args.smoke,
            "python_image": base_image,
            "peer_rounds": peer_rounds,
            "peer_duration_s": peer_duration,
            "rate_duration_s": rate_duration,
            "h2_connections": h2_connections,
            "h2_streams": h2_streams,
            "large_rows": large_rows,
            "items_before_scenarios": int(paths["items_total"]),
        },
        "app_settings": settings,
        "scenarios": scenarios,
        "imports": imports,
        "fixed_rate": rate_rows,
        "http2": h2_rows,
        "large_table": large,
        "peers": peer_results,
        "memory_mib": mem,
        "log_findings": findings,
        "image_mb": images,
        "startup": latest_startup(results_dir, stack.project),
    }
    app_scenarios = tuple(key for key, _, _, is_app in SCENARIOS if is_app)
    results["targets"] = report.evaluate(
        scenarios, mem, images, rate_rows, large, peer_results, app_scenarios
    )
    results_dir.mkdir(parents=True, exist_ok=True)
    kind = "bench-smoke" if args.smoke else "bench"
    out = results_dir / f"{kind}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    report.print_report(results)
    print(f"Results: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")

    if args.smoke:
        failures = [
            f"{key}: {row['requests']} requests, {row['errors']} errors"
            for key, row in scenarios.items()
            if row["requests"] == 0 or row["errors"]
        ]
        failures += report.smoke_failures(results)
        if imports is not None and imports["failed"]:
            failures.append(f"imports: {imports['failed']} of {imports['imports']} failed")
        if failures or not scenarios:
            log("smoke FAILED: " + ("; ".join(failures) or "no scenario ran"))
            return 1
        log("smoke passed: every scenario, peers included, produced figures and no errors")
    return 0


def _terminate(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sys.exit(main())
    except BenchError as error:
        log(str(error))
        sys.exit(2)
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
