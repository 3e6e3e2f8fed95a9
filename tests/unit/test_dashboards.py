"""grafana/: the dashboards' JSON and the provisioning that loads them, checked strictly (no
Grafana runs here: tests/e2e/test_dashboards.py runs every query against the stack's Prometheus)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
PANEL_TYPES = {"row", "timeseries", "stat"}
GRID_WIDTH = 24


def load(path: Path) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


def datasource() -> dict[str, Any]:
    provisioned = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = provisioned["datasources"]
    return {"type": source["type"], "uid": source["uid"]}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows' nested ones included."""
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def test_there_are_dashboards_and_the_provider_loads_their_folder():
    assert [p.name for p in DASHBOARDS] == ["golden-signals.json", "slo-and-probes.json"]
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/dashboards.yml").read_text())
    (only,) = provider["providers"]
    assert only["type"] == "file"
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in compose["volumes"] if v.startswith("./")}
    assert mounts[only["options"]["path"]] == "./grafana/dashboards"
    assert mounts[compose["environment"]["GF_PATHS_PROVISIONING"]] == "./grafana/provisioning"


def test_uids_and_titles_are_unique_across_dashboards():
    loaded = [load(p) for p in DASHBOARDS]
    uids = [d["uid"] for d in loaded]
    titles = [d["title"] for d in loaded]
    assert len(set(uids)) == len(uids) and len(set(titles)) == len(titles)
    for uid in uids:
        # Grafana's limit, and a URL-safe name.
        assert re.fullmatch(r"[a-z0-9-]{1,40}", uid), uid


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_the_dashboard_has_the_top_level_fields_grafana_needs(path: Path):
    dashboard = load(path)
    required = {"uid", "title", "panels", "schemaVersion", "time", "refresh", "tags"}
    assert required <= set(dashboard), required - set(dashboard)
    assert "id" not in dashboard or dashboard["id"] is None, "a provisioned dashboard has no id"
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert dashboard["templating"]["list"] == [], "no variables: every query stands alone"
    assert dashboard["panels"], "an empty dashboard"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panel_ids_are_unique_and_every_panel_is_well_formed(path: Path):
    all_panels = panels(load(path))
    ids = [p["id"] for p in all_panels]
    assert all(isinstance(i, int) and i > 0 for i in ids)
    assert len(set(ids)) == len(ids), f"duplicate panel ids in {path.name}"
    for panel in all_panels:
        assert panel["type"] in PANEL_TYPES, panel["type"]
        assert panel.get("title"), f"panel {panel['id']} has no title"
        if panel["type"] == "row":
            assert panel["panels"] == [] and panel["collapsed"] is False
            continue
        assert panel.get("description"), f"{panel['title']}: no description"
        assert panel["datasource"] == datasource(), panel["title"]
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{panel['title']}: no unit"
        targets = panel["targets"]
        assert targets, f"{panel['title']}: no query"
        ref_ids = [t["refId"] for t in targets]
        assert len(set(ref_ids)) == len(ref_ids), f"{panel['title']}: duplicate refId"
        for target in targets:
            assert target["datasource"] == datasource(), panel["title"]
            assert isinstance(target.get("expr"), str) and target["expr"].strip(), panel["title"]
            # No Grafana variables ($__rate_interval and the like): the e2e test runs each
            # expression as it is against Prometheus.
            assert "$" not in target["expr"], f"{panel['title']}: {target['expr']}"
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_fit_the_grid_without_overlapping(path: Path):
    taken: dict[tuple[int, int], str] = {}
    for panel in panels(load(path)):
        grid = panel["gridPos"]
        assert set(grid) == {"h", "w", "x", "y"}, panel["title"]
        assert all(isinstance(v, int) and v >= 0 for v in grid.values()), panel["title"]
        assert grid["w"] > 0 and grid["h"] > 0, panel["title"]
        assert grid["x"] + grid["w"] <= GRID_WIDTH, f"{panel['title']} is wider than the grid"
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


def test_the_dashboards_cover_every_golden_signal_area():
    titles = {p["title"] for path in DASHBOARDS for p in panels(load(path)) if p["type"] == "row"}
    for area in ("Edge", "App", "Workers", "Postgres", "Redis", "API objectives", "Probes"):
        assert any(t.startswith(area) for t in titles), f"no row for {area}"
