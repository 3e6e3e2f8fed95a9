"""Pure parsing for the bench (bench/bench.py): the line bench/wrk/bench.lua prints, h2load's
summary and its per-request log, the percentiles computed from that log, and the peers'
ratios. No Docker, no network: the unit tests (tests/unit/test_bench_parsing.py) cover every
function here."""

from __future__ import annotations

import math
import re
import statistics
import urllib.parse
from typing import Any


class ParseError(ValueError):
    """h2load printed something this parser does not understand."""


def wrk_summary(raw: dict[str, Any]) -> dict[str, Any]:
    """A wrk run's figures from the JSON line bench/wrk/bench.lua prints (BENCH_JSON)."""
    errors = raw["errors"]
    socket_errors = errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]
    seconds = raw["duration_us"] / 1e6
    lat = raw["latency_us"]
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 3),
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": lat["p50"] / 1000,
        "p90_ms": lat["p90"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "p99_9_ms": lat["p99_9"] / 1000,
        "max_ms": lat["max"] / 1000,
        "mean_ms": round(lat["mean"] / 1000, 3),
        "non_2xx": errors["non_2xx"],
        # Non-2xx answers by status ("502": 12): which failure, not only how many.
        "statuses": dict(sorted(raw.get("statuses", {}).items())),
        "socket_errors": socket_errors,
        "errors": errors["non_2xx"] + socket_errors,
        "wrk_errors": errors,
    }


def percentile(sorted_values: list[float], share: float) -> float:
    """The nearest-rank percentile (0 < share <= 1) of values sorted ascending: the smallest
    value with at least `share` of all values at or below it."""
    if not sorted_values:
        raise ValueError("no values")
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], not {share}")
    rank = math.ceil(share * len(sorted_values))
    return sorted_values[rank - 1]


def parse_request_log(text: str) -> list[tuple[int, int]]:
    """h2load --log-file: one request a line, tab-separated: start time (µs since the epoch),
    HTTP status, microseconds until the end of the response. Returns (status, µs) pairs."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not all(f.strip().lstrip("-").isdigit() for f in fields):
            raise ParseError(f"request log line {number} is not three numbers: {line[:80]!r}")
        rows.append((int(fields[1]), int(fields[2])))
    return rows


def latency_figures(rows: list[tuple[int, int]]) -> dict[str, float]:
    """p50, p99, p99.9 and max in ms of every request in the log, whatever its status (a fast
    error must not hide a slow success, and errors are counted apart)."""
    if not rows:
        raise ParseError("the request log is empty: no request completed")
    values = sorted(us / 1000 for _, us in rows)
    return {
        "p50_ms": round(percentile(values, 0.50), 3),
        "p99_ms": round(percentile(values, 0.99), 3),
        "p99_9_ms": round(percentile(values, 0.999), 3),
        "max_ms": round(values[-1], 3),
    }


_REQUESTS = re.compile(
    r"^requests: (?P<total>\d+) total, (?P<started>\d+) started, (?P<done>\d+) done, "
    r"(?P<succeeded>\d+) succeeded, (?P<failed>\d+) failed, (?P<errored>\d+) errored, "
    r"(?P<timeout>\d+) timeout",
    re.M,
)
_STATUS = re.compile(
    r"^status codes: (?P<s2>\d+) 2xx, (?P<s3>\d+) 3xx, (?P<s4>\d+) 4xx, (?P<s5>\d+) 5xx", re.M
)
_FINISHED = re.compile(r"^finished in (?P<value>[\d.]+)(?P<unit>us|ms|s), ", re.M)
_PROTOCOL = re.compile(r"^Application protocol: (\S+)", re.M)
_UNIT_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def parse_summary(text: str) -> dict[str, Any]:
    """The counts h2load prints at the end of a run: requests (done, succeeded, failed,
    errored, timed out), status classes, the run's length and the negotiated protocol."""
    requests, status, finished = (
        _REQUESTS.search(text),
        _STATUS.search(text),
        _FINISHED.search(text),
    )
    if not requests or not status or not finished:
        raise ParseError("h2load printed no summary: " + text.strip()[-300:])
    counts = {key: int(value) for key, value in requests.groupdict().items()}
    codes = {f"{key[1]}xx": int(value) for key, value in status.groupdict().items()}
    protocol = _PROTOCOL.search(text)
    return {
        **counts,
        "status": codes,
        "seconds": float(finished["value"]) * _UNIT_S[finished["unit"]],
        "protocol": protocol.group(1) if protocol else None,
        # Every request without a 2xx answer, counted once: h2load counts a 4xx or 5xx, a
        # reset stream and a timeout as `failed` and a 3xx as succeeded; requests done without
        # a 2xx catch whatever `failed` does not.
        "errors": max(counts["failed"] + codes["3xx"], counts["done"] - codes["2xx"]),
    }


_LOG_LINE = re.compile(r"^-?\d+\t-?\d+\t-?\d+$")


def split_output(text: str) -> tuple[str, str]:
    """h2load run with --log-file=/dev/stdout: (the per-request log lines, everything else)."""
    log, rest = [], []
    for line in text.splitlines():
        (log if _LOG_LINE.match(line) else rest).append(line)
    return "\n".join(log), "\n".join(rest)


def fixed_rate_plan(
    peak_rps: float, share: float = 0.5, per_client: float = 25.0, max_clients: int = 64
) -> tuple[int, float]:
    """(clients, requests/s per client) for a constant total rate of `share` of the peak.
    h2load's --rps is per client, and a client waits for its answer before the next request
    (one stream each over HTTP/1.1), so each client is given at most `per_client` requests/s:
    an interval of 40 ms, above the latency the run is meant to see."""
    if peak_rps <= 0:
        raise ValueError("no peak to take a share of")
    target = peak_rps * share
    clients = max(1, min(max_clients, math.ceil(target / per_client)))
    return clients, round(target / clients, 2)


def peer_table(runs: list[dict[str, Any]], baseline: str) -> dict[str, dict[str, Any]]:
    """Per peer and scenario, the median req/s and p99 of its rounds, the errors summed, and
    the ratio of its req/s to the baseline's (None where the baseline lacks the scenario).
    `runs` holds one entry per peer per round: {"peer", "scenarios": {key: {rps, p99_ms,
    errors}}}."""
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for run in runs:
        for key, row in run["scenarios"].items():
            grouped.setdefault(run["peer"], {}).setdefault(key, []).append(row)
    table: dict[str, dict[str, Any]] = {}
    for peer, scenarios in grouped.items():
        table[peer] = {
            key: {
                "rps": round(statistics.median(r["rps"] for r in rows), 1),
                "p99_ms": round(statistics.median(r["p99_ms"] for r in rows), 1),
                "errors": sum(r["errors"] for r in rows),
                "rounds": len(rows),
                "app_cpu_us": _median_app_cpu(rows),
            }
            for key, rows in scenarios.items()
        }
    base = table.get(baseline, {})
    for scenarios in table.values():
        for key, row in scenarios.items():
            base_rps = base.get(key, {}).get("rps")
            row["ratio"] = round(row["rps"] / base_rps, 3) if base_rps else None
    return table


def _median_app_cpu(rows: list[dict[str, Any]]) -> float | None:
    """The median of the app container's CPU µs per request over rounds that measured it."""
    values = [r["cpu_us_per_request"]["app"] for r in rows
              if "app" in r.get("cpu_us_per_request", {})]  # fmt: skip
    return round(statistics.median(values), 1) if values else None


def alternation(peers: list[str], rounds: int) -> list[str]:
    """The order peers are measured in: forward, then backward, and so on (A B C D D C B A …),
    so a drift in the machine's load over the run hits every peer alike on average; the first
    peer is the stack as it runs, so the run starts without a swap."""
    order: list[str] = []
    for number in range(rounds):
        order += peers if number % 2 == 0 else peers[::-1]
    return order


def deep_page_path(page: Any, offset: int, limit: int = 20) -> tuple[str, str]:
    """(path, mode) of the large-table scenario's deep page, from the answer to
    `GET /api/items?limit=LIMIT&offset=OFFSET`: by its `next_cursor` when the API gives one
    (keyset pagination), else by that offset, said so."""
    cursor = page.get("next_cursor") if isinstance(page, dict) else None
    if isinstance(cursor, str) and cursor:
        return "/api/items?" + urllib.parse.urlencode({"limit": limit, "cursor": cursor}), "cursor"
    return (
        f"/api/items?limit={limit}&offset={offset}",
        "offset (cursor pagination not available)",
    )
