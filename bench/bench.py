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

This file is the command line: its settings and the order of a run. What each part does is
a module of its own beside it: target.py (the stack measured), images.py (the bench's
images), loadgen.py (wrk and h2load), phases.py (the scenarios and phases), observe.py
(memory, logs, sizes), report.py (the tables and verdicts).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Run as a script, Python puts bench/ itself first on sys.path, where this file would stand for
# the `bench` package its modules are imported from: the repository's root takes its place.
_HERE = Path(__file__).resolve().parent
if sys.path and Path(sys.path[0] or ".").resolve() == _HERE:
    sys.path[0] = str(_HERE.parent)
else:
    sys.path.insert(0, str(_HERE.parent))

from bench import images, observe, peer_swap, phases, report  # noqa: E402
from bench.command import ROOT, BenchError, log  # noqa: E402
from bench.loadgen import H2load, Wrk, remove_loadgen_containers  # noqa: E402
from bench.target import Stack  # noqa: E402


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


@dataclass(frozen=True)
class Options:
    """A run's settings, from the environment (the defaults: this file's docstring)."""

    smoke: bool
    duration: int
    connections: int
    threads: int
    warmup: int
    timeout_s: int
    close: int
    seed_rows: int
    selected: list[str]
    results_dir: Path
    peers: list[str]
    peer_rounds: int
    peer_duration: int
    rate_duration: int
    h2_streams: int
    h2_connections: int
    large_rows: int

    def wanted(self, phase: str) -> bool:
        return not self.selected or phase in self.selected


def read_options(smoke: bool) -> Options:
    duration = env_int("BENCH_DURATION", 1 if smoke else 10)
    connections = env_int("BENCH_CONNECTIONS", 8 if smoke else 64)
    threads = env_int("BENCH_THREADS", 2)
    warmup = env_int("BENCH_WARMUP", 0 if smoke else 2)
    timeout_s = env_int("BENCH_TIMEOUT", 5)
    close = env_int("BENCH_CONNECTION_CLOSE", 0)
    if close > 1:
        raise BenchError("BENCH_CONNECTION_CLOSE must be 0 or 1")
    seed_rows = env_int("BENCH_SEED_ITEMS", 20 if smoke else 100)
    if not 1 <= duration <= 300:
        raise BenchError("BENCH_DURATION must be 1 to 300 seconds")
    if not 1 <= connections <= 1000 or not 1 <= threads <= 16:
        raise BenchError("BENCH_CONNECTIONS must be 1 to 1000 and BENCH_THREADS 1 to 16")
    selected = [s.strip() for s in os.environ.get("BENCH_SCENARIOS", "").split(",") if s.strip()]
    known = [key for key, *_ in phases.SCENARIOS] + list(phases.PHASES)
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
    peer_rounds = env_int("BENCH_PEER_ROUNDS", 1 if smoke else 2)
    peer_duration = env_int("BENCH_PEER_DURATION", duration)
    rate_duration = env_int("BENCH_RATE_DURATION", duration)
    h2_streams = env_int("BENCH_H2_STREAMS", 10)
    h2_connections = env_int("BENCH_H2_CONNECTIONS", 4 if smoke else 8)
    large_rows = env_int("BENCH_LARGE_ROWS", 2000 if smoke else 1_000_000)
    if not 1 <= peer_rounds <= 10 or not 1 <= peer_duration <= 300 or not 1 <= rate_duration <= 300:
        raise BenchError("BENCH_PEER_ROUNDS must be 1 to 10, the durations 1 to 300 seconds")
    if not 1 <= h2_streams <= 100 or not 1 <= h2_connections <= 100:
        raise BenchError("BENCH_H2_STREAMS and BENCH_H2_CONNECTIONS must be 1 to 100")
    if large_rows > 10_000_000:
        raise BenchError("BENCH_LARGE_ROWS must be at most 10000000 (0 skips the scenario)")
    return Options(
        smoke=smoke, duration=duration, connections=connections, threads=threads,
        warmup=warmup, timeout_s=timeout_s, close=close, seed_rows=seed_rows,
        selected=selected, results_dir=results_dir, peers=peers, peer_rounds=peer_rounds,
        peer_duration=peer_duration, rate_duration=rate_duration, h2_streams=h2_streams,
        h2_connections=h2_connections, large_rows=large_rows,
    )  # fmt: skip


def measure(
    opts: Options, stack: Stack, wrk: Wrk, h2load: H2load, started: datetime
) -> dict[str, Any]:
    """Every scenario and phase asked for, in order, on a stack with the edge's limits raised."""
    paths = phases.seed(stack, opts.seed_rows)
    urls = phases.scenario_urls(stack, paths)
    scenarios = phases.wrk_scenarios(wrk, urls, opts.selected, opts.duration, opts.warmup)
    measured: dict[str, Any] = {"paths": paths, "scenarios": scenarios, "imports": None,
                                "fixed_rate": {}, "http2": {}, "large_table": None,
                                "peers": None}  # fmt: skip
    if opts.wanted("fixed_rate"):
        measured["fixed_rate"] = phases.fixed_rate(
            h2load, scenarios, urls, opts.rate_duration, opts.connections
        )
    if opts.wanted("http2"):
        per_connection = (
            phases.H2_SMOKE_REQUESTS_PER_CONNECTION
            if opts.smoke
            else phases.H2_REQUESTS_PER_CONNECTION
        )
        measured["http2"] = phases.http2(
            h2load, urls, opts.duration, opts.h2_connections, opts.h2_streams, per_connection
        )
    if opts.large_rows and opts.wanted("large_table"):
        large = phases.large_table(stack, wrk, opts.large_rows, opts.duration, opts.warmup)
        base_rps = scenarios.get("items_list", {}).get("rps")
        for key in ("first_page", "deep_page"):
            large[key]["ratio_to_items_list"] = (
                round(large[key]["rps"] / base_rps, 4) if base_rps else None
            )
        measured["large_table"] = large
    if opts.wanted("imports"):
        count = env_int("BENCH_IMPORTS", 2 if opts.smoke else 4)
        size = env_int("BENCH_IMPORT_SIZE", 200 if opts.smoke else 2000)
        if not 1 <= count <= 100 or not 1 <= size <= 5000:
            raise BenchError("BENCH_IMPORTS must be 1 to 100 and BENCH_IMPORT_SIZE 1 to 5000")
        log(f"imports: {count} imports of {size} items through the worker")
        measured["imports"] = phases.import_throughput(stack, count, size)
    measured["memory_mib"] = observe.memory(stack.project)
    measured["log_findings"] = observe.log_findings(stack, started.isoformat(timespec="seconds"))
    if opts.peers and opts.wanted("peers"):
        measured["peers"] = phases.peers_phase(
            stack, wrk, urls, opts.peers, opts.peer_rounds, opts.peer_duration, opts.warmup
        )
    return measured


def results_of(
    opts: Options,
    stack: Stack,
    measured: dict[str, Any],
    started: datetime,
    limits: tuple[str, str],
    base_image: str,
    app_settings: dict[str, str],
) -> dict[str, Any]:
    """The JSON report: the figures, with their ratios and verdicts, and what they ran on."""
    scenarios = measured["scenarios"]
    for row in scenarios.values():
        if scenarios.get("static", {}).get("rps"):
            row["ratio_to_static"] = round(row["rps"] / scenarios["static"]["rps"], 4)
        if scenarios.get("healthz", {}).get("rps"):
            row["ratio_to_healthz"] = round(row["rps"] / scenarios["healthz"]["rps"], 4)
    sizes = observe.image_sizes(stack.project)
    results = {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "kernel": os.uname().release,
            "docker": observe.docker_version(),
        },
        "config": {
            "project": stack.project,
            "duration_s": opts.duration,
            "warmup_s": opts.warmup,
            "connections": opts.connections,
            "connection_close": bool(opts.close),
            "threads": opts.threads,
            "timeout_s": opts.timeout_s,
            "rate_limit": limits[0],
            "rate_burst": limits[1],
            "smoke": opts.smoke,
            "python_image": base_image,
            "peer_rounds": opts.peer_rounds,
            "peer_duration_s": opts.peer_duration,
            "rate_duration_s": opts.rate_duration,
            "h2_connections": opts.h2_connections,
            "h2_streams": opts.h2_streams,
            "large_rows": opts.large_rows,
            "items_before_scenarios": int(measured["paths"]["items_total"]),
        },
        "app_settings": app_settings,
        "scenarios": scenarios,
        "imports": measured["imports"],
        "fixed_rate": measured["fixed_rate"],
        "http2": measured["http2"],
        "large_table": measured["large_table"],
        "peers": measured["peers"],
        "memory_mib": measured["memory_mib"],
        "log_findings": measured["log_findings"],
        "image_mb": sizes,
        "startup": observe.latest_startup(opts.results_dir, stack.project),
    }
    app_scenarios = tuple(key for key, _, _, is_app in phases.SCENARIOS if is_app)
    results["targets"] = report.evaluate(
        scenarios,
        measured["memory_mib"],
        sizes,
        measured["fixed_rate"],
        measured["large_table"],
        measured["peers"],
        app_scenarios,
    )
    return results


def smoke_verdict(results: dict[str, Any]) -> int:
    """A smoke run's exit status: 1 unless every scenario, peer and phase has figures and no
    errors, and every import was applied."""
    scenarios, imports = results["scenarios"], results["imports"]
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
        base_image = images.python_image()
        project = Stack().project
        images.build_loadgen(project, base_image)
        images.build_peers_image(project, base_image)
        return 0

    opts = read_options(args.smoke)
    stack = Stack()
    services = stack.check_running()
    app_settings = stack.app_settings(services)
    base_image = images.python_image()
    log(f"building the load generator image on {base_image}")
    image = images.build_loadgen(stack.project, base_image)
    wrk = Wrk(image, stack, opts.threads, opts.connections, opts.timeout_s, close=bool(opts.close))
    h2load = H2load(image, stack)
    if opts.peers and opts.wanted("peers"):
        log("building the peers' image (bench/peers/Dockerfile) on the app image")
        images.build_peers_image(stack.project, base_image)

    rate_limit = os.environ.get("BENCH_RATE_LIMIT") or "100000r/s"
    rate_burst = os.environ.get("BENCH_RATE_BURST") or "100000"
    started = datetime.now(UTC)
    log(f"recreating nginx with RATE_LIMIT={rate_limit} RATE_BURST={rate_burst}")
    stack.edge_limits("raise", rate_limit, rate_burst)
    try:
        measured = measure(opts, stack, wrk, h2load, started)
    finally:
        remove_loadgen_containers(stack.project)
        log("recreating nginx with the stack's own rate limit")
        stack.edge_limits("restore")

    results = results_of(
        opts, stack, measured, started, (rate_limit, rate_burst), base_image, app_settings
    )
    opts.results_dir.mkdir(parents=True, exist_ok=True)
    kind = "bench-smoke" if opts.smoke else "bench"
    out = opts.results_dir / f"{kind}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    report.print_report(results)
    print(f"Results: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return smoke_verdict(results) if opts.smoke else 0


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
