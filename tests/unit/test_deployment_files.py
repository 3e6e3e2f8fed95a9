"""The Compose and Swarm files stay in step: same app environment, every rule file shipped."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def load(path: str) -> dict:
    return yaml.safe_load((ROOT / path).read_text())


def test_swarm_gives_the_app_the_same_environment_as_compose():
    compose = load("compose.yaml")["x-app-environment"]
    swarm = load("swarm/stack.yaml")["x-app-environment"]
    assert swarm == compose


def test_swarm_ships_every_prometheus_rule_file():
    configs = load("swarm/stack.yaml")["configs"]
    shipped = {Path(c["file"]).name for c in configs.values()}
    rules = {p.name for p in (ROOT / "prometheus" / "rules").glob("*.yml")}
    assert rules and rules <= shipped
    prometheus = load("swarm/stack.yaml")["services"]["prometheus"]["configs"]
    targets = {c["target"] for c in prometheus}
    assert {f"/etc/prometheus/rules/{name}" for name in rules} <= targets


def test_the_swarm_app_healthcheck_is_liveness_so_a_database_outage_kills_no_replica():
    test = load("swarm/stack.yaml")["services"]["app"]["healthcheck"]["test"]
    assert "/healthz" in " ".join(test)
