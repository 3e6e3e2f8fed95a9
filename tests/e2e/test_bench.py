"""make bench-smoke produces figures for every scenario and no errors (never a speed check)."""

from __future__ import annotations

import json
import subprocess

from tests.support.settings import ROOT
from tests.support.stack import wait_healthy

SCENARIOS = {"static", "healthz", "healthz_direct", "item_cached", "items_list", "item_create"}


def test_bench_smoke_gives_figures_for_every_scenario_and_no_errors():
    before = set((ROOT / "results").glob("bench-smoke-*.json"))
    result = subprocess.run(
        ["make", "-s", "bench-smoke"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    wait_healthy("nginx")  # the bench recreates nginx with its own rate limit, then ours
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [report_path] = set((ROOT / "results").glob("bench-smoke-*.json")) - before
    report = json.loads(report_path.read_text())
    assert set(report["scenarios"]) == SCENARIOS
    for name, figures in report["scenarios"].items():
        assert figures["rps"] > 0 and figures["requests"] > 0, name
        assert figures["errors"] == 0, (name, figures)
