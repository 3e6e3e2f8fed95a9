"""What a bench run measures, in order: the rows seeded, the wrk scenarios, then the phases
(fixed rate, HTTP/2, the large table, the imports, the peers). bench/bench.py runs them."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

from bench import latency, peer_swap
from bench.command import BenchError, log
from bench.loadgen import H2load, Wrk
from bench.observe import log_findings, memory
from bench.target import Stack
from tests.support import settings  # the stack as Compose resolves it
from tests.support.stack import compose, drop_cache_entry, psql

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


def scenario_urls(stack: Stack, paths: dict[str, str]) -> dict[str, str]:
    """Each wrk scenario's URL, from the paths seed() made; BENCH_APP_URL is where the direct
    scenario finds the app (from nginx's network namespace)."""
    direct = os.environ.get("BENCH_APP_URL") or "http://app:8000"
    return {
        "static": stack.base + paths["static_path"],
        "healthz": stack.base + "/healthz",
        "healthz_direct": direct + "/healthz",
        "item_cached": stack.base + paths["item_path"],
        "items_list": stack.base + "/api/items?limit=20",
        "item_create": stack.base + "/api/items",
    }


def wrk_scenarios(
    wrk: Wrk, urls: dict[str, str], selected: list[str], seconds: int, warmup: int
) -> dict[str, dict[str, Any]]:
    """The SCENARIOS with wrk, one after another (those in SELECTED, or all)."""
    scenarios: dict[str, dict[str, Any]] = {}
    for key, description, where, _ in SCENARIOS:
        if selected and key not in selected:
            continue
        post = key == "item_create"
        if warmup:
            wrk.run(key, where, urls[key], warmup, post)
        log(f"{key}: {description}, {seconds} s")
        row = wrk.measure(key, where, urls[key], seconds, post)
        row.update(description=description, url=urls[key], source=where)
        scenarios[key] = row
    return scenarios
