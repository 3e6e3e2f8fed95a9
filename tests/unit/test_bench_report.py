"""bench/report.py: the verdicts `make bench` prints against docs/performance.md's targets, and
the smoke run's checks, from a report as bench/bench.py writes it."""

from __future__ import annotations

import pytest

from bench import cpu, report

pytestmark = pytest.mark.unit

APP = ("healthz", "healthz_direct", "item_cached", "items_list")


def row(rps: float, errors: int = 0, p99: float = 20.0, **cpu_us: float) -> dict:
    figures = {"rps": rps, "errors": errors, "p99_ms": p99, "requests": int(rps * 10)}
    if cpu_us:
        figures["cpu_us_per_request"] = cpu_us
    return figures


def verdicts(scenarios: dict, peers: dict | None = None) -> dict[str, dict]:
    targets = report.evaluate(scenarios, {}, {}, peers=peers, app_scenarios=APP)
    return {t["target"].split(" ")[0] + " " + t["target"].split(" ")[1]: t for t in targets}


def test_nginx_is_judged_on_throughput_and_its_own_cpu_share_is_told():
    scenarios = {
        "healthz": row(850, **{"app": 500.0, "nginx": 100.0, cpu.OUTSIDE: 400.0, "total": 1000.0}),
        "healthz_direct": row(1000),
    }
    nginx = verdicts(scenarios)["nginx costs"]
    assert nginx["met"] is True  # 15 % under the 20 % goal
    assert "+15.0% (850 vs 1000 req/s)" in nginx["figure"]
    assert "nginx's own CPU 17% of the stack's per request" in nginx["figure"]  # 100 / 600
    scenarios["healthz"] = row(790)
    assert verdicts(scenarios)["nginx costs"]["met"] is False


def test_the_cached_and_list_ratios_are_judged_against_healthz():
    found = verdicts({"healthz": row(1000), "item_cached": row(799), "items_list": row(400)})
    assert found["cached item"]["met"] is False and found["cached item"]["figure"] == "80%"
    assert found["uncached read"]["met"] is True


def test_errors_and_the_saturation_p99_are_judged_over_the_app_scenarios_only():
    found = verdicts({"healthz": row(1000, errors=2), "static": row(9000, errors=5, p99=500)})
    assert found["zero errors"]["figure"] == "errors in healthz"
    assert found["p99 <"]["met"] is True  # static's p99 is not an app scenario's


def test_the_middleware_is_judged_from_the_peer_tables_healthz():
    def peer(rps: float, app_cpu: float) -> dict:
        return {"scenarios": {"healthz": {"rps": rps, "app_cpu_us": app_cpu}}}

    peers = {"table": {"stack": peer(760, 700.0), "bare": peer(1000, 480.0)}}
    middleware = verdicts({}, peers)["the production"]
    assert middleware["met"] is True
    assert middleware["figure"] == "+24.0% (760 vs 1000 req/s); app CPU 700 vs 480 µs"
    peers["table"]["stack"] = peer(740, 700.0)
    assert verdicts({}, peers)["the production"]["met"] is False
    assert "the production" not in verdicts({}, {"table": {"stack": peer(1, 1.0)}})


def test_the_smoke_run_fails_on_any_phase_row_with_errors_or_no_requests():
    results = {
        "fixed_rate": {"healthz": {"requests": 10, "errors": 0}},
        "http2": {"h2_healthz": {"requests": 0, "errors": 0}},
        "large_table": {"first_page": {"requests": 5, "errors": 1}},
        "peers": {
            "runs": [{"peer": "bare", "scenarios": {"healthz": {"requests": 9, "errors": 0}}}]
        },
    }
    assert report.smoke_failures(results) == [
        "h2_healthz: 0 requests, 0 errors",
        "large_table first_page: 5 requests, 1 errors",
    ]


def test_the_header_names_the_app_settings_or_says_they_are_the_defaults():
    assert report._workers({}) == "gunicorn.conf.py's defaults (no GUNICORN_* set)"
    chosen = {"GUNICORN_WORKERS": "3", "DB_POOL_SIZE": "5", "GUNICORN_THREADS": "8"}
    assert report._workers(chosen) == "GUNICORN_WORKERS=3, GUNICORN_THREADS=8"
