"""make bench-smoke produces figures for every scenario, the peers' included, with no errors
(never a speed check), and leaves the stack as it found it: the app container as `make up`
made it, no seeded large-table row."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.settings import ROOT
from tests.support.stack import inspect, psql, wait_healthy

pytestmark = pytest.mark.exclusive

SCENARIOS = {"static", "healthz", "healthz_direct", "item_cached", "items_list", "item_create"}
FIXED_RATE = SCENARIOS - {"static"}
HTTP2 = {"h2_healthz", "h2_item_cached"}
PEERS = {
    "stack": {"healthz", "item_cached", "items_list", "item_create"},
    "recipe": {"healthz", "item_cached", "items_list", "item_create"},
    "bare": {"healthz"},
    "granian": {"healthz", "item_cached", "items_list", "item_create"},
}


def app_container() -> dict:
    state = inspect("app")
    config = state["Config"]
    return {
        "image": config["Image"],
        "image_id": state["Image"],
        "cmd": config["Cmd"],
        "entrypoint": config["Entrypoint"],
        "env": sorted(config["Env"]),
        "healthcheck": config["Healthcheck"],
        "config_hash": config["Labels"]["com.docker.compose.config-hash"],
    }


def assert_figures(name: str, figures: dict) -> None:
    assert figures["requests"] > 0 and figures["rps"] > 0, (name, figures)
    assert figures["errors"] == 0, (name, figures)


def test_bench_smoke_gives_figures_for_every_scenario_and_peer_and_restores_the_stack():
    before = set((ROOT / "results").glob("bench-smoke-*.json"))
    app_before = app_container()
    result = subprocess.run(
        ["make", "-s", "bench-smoke"], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    wait_healthy("nginx")  # the bench recreates nginx with its own rate limit, then ours
    wait_healthy("app")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [report_path] = set((ROOT / "results").glob("bench-smoke-*.json")) - before
    report = json.loads(report_path.read_text())

    assert set(report["scenarios"]) == SCENARIOS
    for name, figures in report["scenarios"].items():
        assert_figures(name, figures)
    assert set(report["fixed_rate"]) == FIXED_RATE
    for name, figures in report["fixed_rate"].items():
        assert_figures(f"fixed rate {name}", figures)
        assert figures["p99_ms"] >= figures["p50_ms"] > 0
    assert set(report["http2"]) == HTTP2
    for name, figures in report["http2"].items():
        assert_figures(name, figures)
        assert figures["protocol"] == "h2" and figures["streams"] > 1
    large = report["large_table"]
    assert large["rows"] > 0
    for page in ("first_page", "deep_page"):
        assert_figures(f"large table {page}", large[page])

    peers = report["peers"]
    assert peers["order"][0] == "stack" and set(peers["order"]) == set(PEERS)
    assert {run["peer"]: set(run["scenarios"]) for run in peers["runs"]} == PEERS
    for run in peers["runs"]:
        for name, figures in run["scenarios"].items():
            assert_figures(f"peer {run['peer']} {name}", figures)
    assert peers["table"]["stack"]["scenarios"]["healthz"]["ratio"] == 1

    # The stack is as it was: the app as `make up` made it, no seeded row left behind.
    assert app_container() == app_before
    assert psql("SELECT count(*) FROM items WHERE description = 'bench large-table row'") == "0"
