"""`make bench`'s report (bench/bench.py measures): the targets docs/performance.md reports
against and their verdicts, the smoke run's checks, and the tables printed at the end. Pure:
it reads the report dict only (tests/unit/test_bench_report.py)."""

from __future__ import annotations

import re
from typing import Any

# As a package module: bench.py puts the repository on sys.path, and so do the unit tests.
from bench import cpu

# The figures docs/performance.md reports against.
TARGET_FIXED_RATE_P99_MS = 50.0  # p99 at half the measured peak, every read scenario
TARGET_LARGE_TABLE_RATIO = 0.80  # the list at 1 000 000 rows vs at 100 rows
TARGET_PROXY_COST = 0.20
TARGET_MIDDLEWARE_COST = 0.25  # the stack's /healthz against bare Flask's, same gunicorn
TARGET_CACHED_RATIO = 0.80
TARGET_UNCACHED_RATIO = 0.40
TARGET_P99_MS = 100.0
TARGET_APP_MEMORY_MIB = 300.0
TARGET_IMAGE_MB = 200.0


def smoke_failures(report: dict[str, Any]) -> list[str]:
    """Every figure beyond the wrk table that has no requests or has errors: fixed rate,
    HTTP/2, the large table's two pages, and each peer's scenarios in every round."""
    rows: list[tuple[str, dict[str, Any]]] = []
    rows += [(f"fixed_rate {k}", r) for k, r in (report.get("fixed_rate") or {}).items()]
    rows += [(k, r) for k, r in (report.get("http2") or {}).items()]
    large = report.get("large_table") or {}
    rows += [(f"large_table {k}", large[k]) for k in ("first_page", "deep_page") if k in large]
    for run_ in (report.get("peers") or {}).get("runs", []):
        rows += [(f"peer {run_['peer']} {k}", r) for k, r in run_["scenarios"].items()]
    return [
        f"{name}: {row['requests']} requests, {row['errors']} errors"
        for name, row in rows
        if row["requests"] == 0 or row["errors"]
    ]


def evaluate(
    scenarios: dict[str, dict[str, Any]],
    mem: dict[str, Any],
    images: dict[str, float],
    rate_rows: dict[str, dict[str, Any]] | None = None,
    large: dict[str, Any] | None = None,
    peers: dict[str, Any] | None = None,
    app_scenarios: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    def rps(key: str) -> float | None:
        return scenarios[key]["rps"] if key in scenarios else None

    targets = []

    def add(name: str, figure: str, ok: bool | None) -> None:
        targets.append(
            {
                "target": name,
                "figure": figure,
                "met": ok,
                "verdict": {True: "met", False: "NOT met", None: "n/a"}[ok],
            }
        )

    floor, direct = rps("healthz"), rps("healthz_direct")
    if floor and direct:
        cost = 1 - floor / direct
        spent = scenarios["healthz"].get("cpu_us_per_request", {})
        stack_us = spent.get("total", 0) - spent.get(cpu.OUTSIDE, 0)
        share = (
            f"; nginx's own CPU {spent['nginx'] / stack_us:.0%} of the stack's per request"
            if "nginx" in spent and stack_us > 0
            else ""
        )
        add(
            f"nginx costs <= {TARGET_PROXY_COST:.0%} of /healthz throughput vs direct gunicorn",
            f"{cost:+.1%} ({floor:.0f} vs {direct:.0f} req/s){share}",
            cost <= TARGET_PROXY_COST,
        )
    for key, share, label in (
        ("item_cached", TARGET_CACHED_RATIO, "cached item read"),
        ("items_list", TARGET_UNCACHED_RATIO, "uncached read"),
    ):
        if floor and rps(key) is not None:
            ratio = rps(key) / floor
            add(f"{label} >= {share:.0%} of /healthz", f"{ratio:.0%}", ratio >= share)
    app_keys = [key for key in app_scenarios if key in scenarios]
    if app_keys:
        bad = [key for key in app_keys if scenarios[key]["errors"]]
        slow = [key for key in app_keys if scenarios[key]["p99_ms"] >= TARGET_P99_MS]
        worst = max(app_keys, key=lambda key: scenarios[key]["p99_ms"])
        add(
            "zero errors in every app scenario",
            "errors in " + ", ".join(bad) if bad else "0 errors",
            not bad,
        )
        add(
            f"p99 < {TARGET_P99_MS:.0f} ms in every app scenario",
            f"worst p99 {scenarios[worst]['p99_ms']:.1f} ms ({worst})"
            + (f"; over in {', '.join(slow)}" if slow else ""),
            not slow,
        )
    reads = {key: row for key, row in (rate_rows or {}).items() if row.get("read")}
    if reads:
        slow = [key for key, row in reads.items() if row["p99_ms"] >= TARGET_FIXED_RATE_P99_MS]
        add(
            f"p99 < {TARGET_FIXED_RATE_P99_MS:.0f} ms at half the peak rate, every read scenario",
            ", ".join(f"{key} {row['p99_ms']:.1f}" for key, row in reads.items()) + " ms",
            not slow,
        )
    if large:
        for key, label in (("first_page", "first page"), ("deep_page", "deep page")):
            ratio = large.get(key, {}).get("ratio_to_items_list")
            if ratio is not None:
                add(
                    f"list at {large['rows']:,} rows, {label} >= "
                    f"{TARGET_LARGE_TABLE_RATIO:.0%} of the 100-row list",
                    f"{ratio:.0%}" + (f" ({large['deep_mode']})" if key == "deep_page" else ""),
                    ratio >= TARGET_LARGE_TABLE_RATIO,
                )
    table = (peers or {}).get("table", {})
    stack_row = table.get("stack", {}).get("scenarios", {}).get("healthz")
    bare_row = table.get("bare", {}).get("scenarios", {}).get("healthz")
    if stack_row and bare_row:
        cost = 1 - stack_row["rps"] / bare_row["rps"]
        cpu_figure = (
            f"; app CPU {stack_row['app_cpu_us']:.0f} vs {bare_row['app_cpu_us']:.0f} µs"
            if stack_row.get("app_cpu_us") and bare_row.get("app_cpu_us")
            else ""
        )
        add(
            f"the production middleware costs <= {TARGET_MIDDLEWARE_COST:.0%} of bare Flask's "
            "/healthz (peers)",
            f"{cost:+.1%} ({stack_row['rps']:.0f} vs {bare_row['rps']:.0f} req/s){cpu_figure}",
            cost <= TARGET_MIDDLEWARE_COST,
        )
    if "app" in mem:
        add(
            f"app container < {TARGET_APP_MEMORY_MIB:.0f} MiB",
            f"{mem['app']['mib']:.0f} MiB",
            mem["app"]["mib"] < TARGET_APP_MEMORY_MIB,
        )
    if "app" in images:
        add(
            f"app image < {TARGET_IMAGE_MB:.0f} MB",
            f"{images['app']:.0f} MB",
            images["app"] < TARGET_IMAGE_MB,
        )
    return targets


def print_report(report: dict[str, Any]) -> None:
    scenarios = report["scenarios"]
    c = report["config"]
    print()
    print(
        f"Project {c['project']}, {c['duration_s']} s per scenario, {c['connections']} "
        f"connections, {c['threads']} wrk threads, {report['machine']['cpus']} CPUs; "
        f"app: {_workers(report['app_settings'])}"
    )
    _print_table(
        ("scenario", "<16"), ("req/s", ">9.0f"), ("p50 ms", ">9.1f"), ("p99 ms", ">9.1f"),
        ("p99.9 ms", ">10.1f"), ("errors", ">8"), ("vs static", ">11"), ("vs healthz", ">12"),
        rows=[
            (key, row["rps"], row["p50_ms"], row["p99_ms"], row["p99_9_ms"], row["errors"],
             _pct(row.get("ratio_to_static")), _pct(row.get("ratio_to_healthz")))
            for key, row in scenarios.items()
        ],
    )  # fmt: skip
    print_cpu(scenarios)
    print_latency(report)
    print_peers(report.get("peers"))
    imports = report.get("imports")
    if imports:
        worker = report["memory_mib"].get("worker", {}).get("mib")
        print(
            f"imports: {imports['items']} items in {imports['imports']} imports applied in "
            f"{imports['seconds']:.1f} s: {imports['items_per_s']:.0f} items/s through the "
            f"worker ({imports['failed']} failed); worker memory {worker or '?'} MiB"
        )
    print()
    if report["memory_mib"]:
        print(
            "Memory at the end (docker stats): "
            + ", ".join(f"{name} {m['mib']:.0f} MiB" for name, m in report["memory_mib"].items())
        )
    if report["image_mb"]:
        print("Images: " + ", ".join(f"{k} {v:.0f} MB" for k, v in report["image_mb"].items()))
    found = report["log_findings"]
    print(
        f"During the run: {found.get('gunicorn_worker_restarts', '?')} gunicorn worker restarts "
        f"(max_requests), nginx non-2xx {found.get('nginx_non_2xx', {})}"
    )
    for message, count in found.get("nginx_errors", {}).items():
        print(f"  nginx error x{count}: {message[:160]}")
    start = report.get("startup")
    if start:
        print(
            f"Start-up (make up to all healthy, {start['mode']}): {start['seconds']:.1f} s "
            f"({start['file']})"
        )
    else:
        print("Start-up: not measured yet; run bench/startup.sh")
    print()
    for target in report["targets"]:
        print(f"  [{target['verdict']:>7}] {target['target']}: {target['figure']}")
    print()


CPU_COLUMNS = ("app", "nginx", "postgres", "redis")


def print_cpu(scenarios: dict[str, Any]) -> None:
    """CPU µs per request by container (bench/cpu.py), the other services summed."""
    rows = {key: row["cpu_us_per_request"] for key, row in scenarios.items()
            if row.get("cpu_us_per_request")}  # fmt: skip
    if not rows:
        return
    print()
    print("CPU per request, µs, by container (all CPUs; outside: wrk, Docker's logs, kernel)")
    columns = (*CPU_COLUMNS, "others", cpu.OUTSIDE, "total")
    table = []
    for key, figures in rows.items():
        named = set(CPU_COLUMNS) | {cpu.OUTSIDE, "total"}
        cells = {name: figures.get(name, 0.0) for name in (*CPU_COLUMNS, cpu.OUTSIDE, "total")}
        cells["others"] = sum(v for name, v in figures.items() if name not in named)
        table.append((key, *(cells[c] for c in columns)))
    _print_table(("scenario", "<16"), *((c.split()[0], ">10.0f") for c in columns), rows=table)


def print_latency(report: dict[str, Any]) -> None:
    rows = report.get("fixed_rate") or {}
    if rows:
        print()
        print(
            f"Fixed rate, half of each peak (h2load --rps, HTTP/1.1); goal p99 < "
            f"{TARGET_FIXED_RATE_P99_MS:.0f} ms for reads"
        )
        table = []
        for key, row in rows.items():
            goal = "(write)"
            if row["read"]:
                goal = "met" if row["p99_ms"] < TARGET_FIXED_RATE_P99_MS else "NOT met"
            table.append((key, row["offered_rps"], row["rps"], row["p50_ms"], row["p99_ms"],
                          row["p99_9_ms"], row["errors"], f"  {goal}"))  # fmt: skip
        _print_table(
            ("scenario", "<16"), ("offered", ">9.0f"), ("served", ">9.0f"), ("p50 ms", ">9.1f"),
            ("p99 ms", ">9.1f"), ("p99.9 ms", ">10.1f"), ("errors", ">8"), ("  p99 goal", ""),
            rows=table,
        )  # fmt: skip
    h2 = report.get("http2") or {}
    for key, row in h2.items():
        print(
            f"{key}: HTTP/2, {row['clients']} connections x {row['streams']} streams: "
            f"{row['rps']:.0f} req/s, p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
            f"p99.9 {row['p99_9_ms']:.1f} ms, {row['errors']} errors"
        )
    large = report.get("large_table")
    if large:
        print(
            f"large table, {large['rows']:,} rows (seeded in {large['seed_s']} s, removed after):"
        )
        for key in ("first_page", "deep_page"):
            row = large[key]
            mode = (
                f", {large['deep_mode']} at {large['deep_position']:,}"
                if key == "deep_page"
                else ""
            )
            print(
                f"  {key}: {row['rps']:.0f} req/s, p99 {row['p99_ms']:.1f} ms, "
                f"{row['errors']} errors, {_pct(row.get('ratio_to_items_list'))} of the "
                f"100-row items_list{mode}"
            )


def print_peers(peers: dict[str, Any] | None) -> None:
    if not peers:
        return
    table = peers["table"]
    keys = list(table["stack"]["scenarios"])
    print()
    print(
        f"Peers: {peers['rounds']} round(s) in the order {' '.join(peers['order'])}; median "
        "req/s (ratio to the stack's defaults)"
    )
    header = (
        f"{'peer':<9}"
        + "".join(f"{k:>18}" for k in keys)
        + f"{'errors':>8}{'restarts':>9}{'app MiB':>9}"
    )
    _print_header(header)
    for peer, data in table.items():
        cells = []
        for key in keys:
            row = data["scenarios"].get(key)
            cells.append(f"{row['rps']:>9.0f} ({row['ratio']:.2f}x)" if row else f"{'-':>18}")
        errors = sum(row["errors"] for row in data["scenarios"].values())
        print(
            f"{peer:<9}"
            + "".join(f"{c:>18}" for c in cells)
            + f"{errors:>8}{data['worker_restarts']:>9}{data['app_mib']:>9.0f}"
        )
    for peer, data in table.items():
        print(f"  {peer}: {data['description']}")
        spent = [f"{key} {row['app_cpu_us']:.0f}" for key, row in data["scenarios"].items()
                 if row.get("app_cpu_us") is not None]  # fmt: skip
        if spent:
            print(f"    app container CPU per request, µs (median): {', '.join(spent)}")
    print(f"  (recipe workers: {peers['recipe_workers']}; p99 ms per peer in the JSON)")


def _print_header(header: str) -> None:
    """A table's column names, underlined."""
    print(header)
    print("-" * len(header))


def _print_table(*columns: tuple[str, str], rows: list[tuple[Any, ...]]) -> None:
    """A table of COLUMNS, each its title and its cells' format (`<16`, `>9.1f`): the titles
    take the format's alignment and width, underlined; then a line per row."""
    _print_header("".join(f"{title:{re.sub(r'[.,].*', '', spec)}}" for title, spec in columns))
    for row in rows:
        print("".join(f"{cell:{spec}}" for cell, (_, spec) in zip(row, columns, strict=True)))


def _workers(settings: dict[str, str]) -> str:
    keys = (
        "GUNICORN_WORKER_CLASS",
        "GUNICORN_WORKERS",
        "GUNICORN_THREADS",
        "GUNICORN_MAX_REQUESTS",
    )
    chosen = ", ".join(f"{key}={settings[key]}" for key in keys if key in settings)
    return chosen or "gunicorn.conf.py's defaults (no GUNICORN_* set)"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"
