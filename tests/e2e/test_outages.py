"""A dependency stops, once for everything that outage proves: how the app answers meanwhile,
that the outside probes and the alert rules see it, that the alert reaches the webhook, and that
everything recovers with no restart.

Alert delivery: a webhook receiver on Alertmanager's network, Alertmanager pointed at it (the
webhook URL is a secret file), and Prometheus with copies of the delivered alerts that fire after
a short `for:` as one more rule file. Both are recreated once for the module and put back after
it, with Prometheus's rules checked to be the shipped ones again."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support import prometheus
from tests.support.edge import BASE
from tests.support.prometheus import query
from tests.support.settings import ROOT, compose_config
from tests.support.stack import (
    cache_entry,
    capture_server,
    captured,
    drop_cache_entry,
    inspect,
    json_log_lines,
    overridden,
    stopped,
    wait_for,
)

pytestmark = pytest.mark.exclusive

# The alerts whose delivery is tested: an inside view (Redis's exporter) and the outside one
# (the edge's probes), each with a label its notification carries.
DELIVERED = {"RedisDown": '"job":"redis"', "EdgeDownFromOutside": '"probe":"https"'}
PROBES = {"https", "http2", "redirect"}


def shipped_rules() -> dict[str, dict]:
    """Every alerting rule of prometheus/rules/, by name."""
    return {
        rule["alert"]: rule
        for path in sorted((ROOT / "prometheus" / "rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def shipped_groups() -> set[str]:
    return {
        group["name"]
        for path in (ROOT / "prometheus" / "rules").glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
    }


def loaded_groups() -> set[str]:
    return {group["name"] for group in prometheus.get("/api/v1/rules")["groups"]}


def fast_copies(path: Path) -> None:
    """The delivered alerts' shipped rules, copied with a 5 s `for:` and an `e2e` label new to
    each run: Alertmanager's notification log (in its volume) would otherwise hold back a group
    it notified within repeat_interval, so a second run on the same stack would see nothing."""
    rules = shipped_rules()
    run = f"fast-{uuid.uuid4().hex[:8]}"
    fast = [{**rules[name], "for": "5s", "labels": {**rules[name]["labels"], "e2e": run}}
            for name in DELIVERED]  # fmt: skip
    path.write_text(yaml.safe_dump({"groups": [{"name": "e2e-fast", "rules": fast}]}))
    path.chmod(0o644)


@pytest.fixture(scope="module")
def alert_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("alerts")
    folder.chmod(0o755)
    fast_rules = folder / "e2e-fast.yml"
    fast_copies(fast_rules)
    name = f"alert-receiver-{uuid.uuid4().hex[:8]}"
    webhook = folder / "alert_webhook_url"
    webhook.write_text(f"http://{name}:8000/alerts")
    webhook.chmod(0o644)
    # An override replaces the list of configs: compose.yaml's, plus the fast rules.
    configs = [{"source": c["source"], "target": c["target"]}
               for c in compose_config()["services"]["prometheus"]["configs"]]  # fmt: skip
    configs.append({"source": "e2e_fast", "target": "/etc/prometheus/rules/e2e-fast.yml"})
    network = next(iter(inspect("alertmanager")["NetworkSettings"]["Networks"]))
    with (
        capture_server(network, name, inspect("app")["Config"]["Image"]),
        overridden("alertmanager", {}, force_recreate=True,
                   top={"secrets": {"alert_webhook_url": {"file": str(webhook)}}}),
        overridden("prometheus", {"configs": configs},
                   top={"configs": {"e2e_fast": {"file": str(fast_rules)}}}),
    ):  # fmt: skip
        wait_for(lambda: "e2e-fast" in loaded_groups(), 60, 1, "the fast copies to load")
        yield name
    # Put back: exactly the shipped rule groups again.
    assert loaded_groups() == shipped_groups()


def delivered(receiver: str, alert: str) -> list[str]:
    """The firing notifications of ALERT the receiver got (JSON, spaces removed)."""
    bodies = [body.replace(" ", "") for body in captured(receiver) if f'"{alert}"' in body]
    return [body for body in bodies if '"status":"firing"' in body]


def wait_delivered(receiver: str, alert: str) -> None:
    wait_for(lambda: bool(delivered(receiver, alert)), 120, 1, f"{alert} at the webhook")
    assert DELIVERED[alert] in delivered(receiver, alert)[-1]


def started_at(service: str) -> str:
    return inspect(service)["State"]["StartedAt"]


def health(http) -> tuple[int, dict]:
    response = http.get(f"{BASE}/health", timeout=10)
    return response.status_code, response.json()


def health_parts(http) -> tuple[int, str, str, str]:
    """/health's status code, status, database and cache."""
    status, body = health(http)
    return status, body["status"], body["database"], body["cache"]


# --- Redis -----------------------------------------------------------------------------------


def test_with_redis_stopped_the_app_degrades_keeps_serving_and_redis_down_is_delivered(
    http, alert_receiver
):
    app_started = started_at("app")
    with stopped("redis"):
        # Each process keeps its /health result for a second: every process reports it in time.
        degraded = (200, "degraded", "connected", "disconnected")
        wait_for(lambda: health_parts(http) == degraded, 20, 0.5, "/health degraded")

        request_id = f"redis-down-{uuid.uuid4().hex}"
        created = http.post(f"{BASE}/api/items", json={"name": "written without cache"},
                            headers={"X-Request-ID": request_id}, timeout=10)  # fmt: skip
        assert created.status_code == 201
        item_url = f"{BASE}/api/items/{created.json()['id']}"
        for _ in range(2):
            read = http.get(item_url, timeout=10)
            assert read.status_code == 200 and read.json()["name"] == "written without cache"
        patched = http.patch(item_url, json={"name": "patched without cache"}, timeout=10)
        assert patched.status_code == 200
        assert http.get(item_url, timeout=10).json()["name"] == "patched without cache"
        assert http.get(f"{BASE}/api/stats", timeout=10).status_code == 200
        assert http.get(f"{BASE}/api/items", timeout=10).status_code == 200
        # The degradation is not silent: the app logs a warning, in JSON, for the operator, on
        # the line of the very request that met the outage.
        warnings = [
            line
            for line in json_log_lines("app", "2m")
            if line.get("request_id") == request_id and line.get("level") == "WARNING"
        ]
        assert [line["message"] for line in warnings] == [
            "cache unavailable, continuing without it"
        ]  # fmt: skip
        wait_delivered(alert_receiver, "RedisDown")
    # Back with no restart: healthy again, and caching resumes by itself.
    wait_for(lambda: health(http)[1]["status"] == "healthy", 30, 0.5, "healthy again")
    item = http.post(f"{BASE}/api/items", json={"name": "after redis"}, timeout=10).json()
    http.get(f"{BASE}/api/items/{item['id']}", timeout=10)
    assert cache_entry(f"item:{item['id']}"), "caching did not resume"
    assert started_at("app") == app_started


# --- nginx -----------------------------------------------------------------------------------


def probe_results() -> dict[str, float]:
    """Each probe's last result, by its `probe` label."""
    results = query('probe_success{job="blackbox"}')
    return {s["metric"]["probe"]: float(s["value"][1]) for s in results}


def all_probes_succeed() -> bool:
    return probe_results() == dict.fromkeys(PROBES, 1.0)


def edge_down_alert_state() -> set[str]:
    return {s["metric"]["alertstate"] for s in query('ALERTS{alertname="EdgeDownFromOutside"}')}


def test_with_nginx_stopped_every_probe_fails_and_edge_down_is_delivered(alert_receiver):
    wait_for(all_probes_succeed, 90, 1, "every probe of the edge to succeed")
    stopped_at = time.time()
    with stopped("nginx"):

        def failed_since_stop() -> bool:
            fresh = query(
                f'probe_success{{job="blackbox"}} and timestamp(probe_success) > {stopped_at}'
            )
            return {s["metric"]["probe"]: s["value"][1] for s in fresh} == dict.fromkeys(
                PROBES, "0"
            )

        wait_for(failed_since_stop, 60, 1, "every probe to fail")
        # The shipped rule's long `for:` keeps it pending; its fast copy fires and is delivered.
        wait_for(lambda: "pending" in edge_down_alert_state(), 60, 1, "EdgeDownFromOutside")
        wait_delivered(alert_receiver, "EdgeDownFromOutside")
    # `stopped` waited for nginx to be healthy: the probes see it again.
    wait_for(all_probes_succeed, 90, 1, "every probe to succeed again after nginx is back")


# --- Postgres --------------------------------------------------------------------------------


def test_with_postgres_stopped_the_api_answers_503_json_and_recovers_with_no_restart(http):
    app_started = started_at("app")
    with stopped("postgres"):
        unhealthy = (503, "unhealthy", "disconnected", "connected")
        wait_for(lambda: health_parts(http) == unhealthy, 20, 0.5, "/health unhealthy")
        # Statistics cached before the outage would answer 200 from Redis: drop them first.
        drop_cache_entry("stats")
        for method, path, payload in [
            ("GET", "/api/items", None),
            ("POST", "/api/items", {"name": "nowhere to go"}),
            ("GET", "/api/stats", None),
            ("GET", "/api/items/999999", None),
        ]:
            response = http.request(method, f"{BASE}{path}", json=payload, timeout=15)
            assert response.status_code == 503, f"{method} {path}: {response.status_code}"
            assert response.json()["error"]["code"] == "database_unavailable"
            assert "Traceback" not in response.text
    wait_for(lambda: health(http)[0] == 200, 30, 0.5, "recovery")
    name = f"after postgres {uuid.uuid4().hex[:6]}"
    created = http.post(f"{BASE}/api/items", json={"name": name}, timeout=10)
    assert created.status_code == 201
    assert http.get(created.headers["Location"], timeout=10).json()["name"] == name
    assert started_at("app") == app_started
