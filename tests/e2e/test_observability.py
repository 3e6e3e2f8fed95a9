"""Metrics that are right under gunicorn, every target scraped, rules tested, alerts delivered."""

from __future__ import annotations

import concurrent.futures
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support import prometheus
from tests.support.edge import BASE, new_session
from tests.support.prometheus import query, scalar
from tests.support.settings import ROOT, compose_config
from tests.support.stack import (
    capture_server,
    captured,
    compose,
    docker,
    gunicorn_processes,
    inspect,
    json_log_lines,
    overridden,
    stopped,
    wait_for,
    wait_healthy,
)

JOBS = {"app", "worker", "broker", "prometheus", "postgres", "redis", "nginx", "alertmanager",
        "acme", "blackbox"}  # fmt: skip
REQUIRED_ALERTS = {
    "TargetDown",
    "PostgresDown",
    "RedisDown",
    "HighErrorRatio",
    "HighLatencyP95",
    "DatabasePoolNearExhaustion",
    "AppMetricsMissing",
    "CertificateExpiresSoon",
    "CertificateRenewalFailed",
    "EdgeDownFromOutside",
    "EdgeCertificateExpiresSoon",
}


def promtool(*args: str) -> None:
    """Run promtool from the image the stack's Prometheus runs, on this repo's files."""
    image = inspect("prometheus")["Config"]["Image"]
    result = docker(
        "run", "--rm", "--network", "none", "--entrypoint", "/bin/promtool",
        "-v", f"{ROOT / 'prometheus'}:/etc/prometheus:ro", image, *args,
        check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_configuration_and_its_rule_files():
    promtool("check", "config", "/etc/prometheus/prometheus.yml")


def test_promtool_rule_unit_tests_pass():
    tests = sorted((ROOT / "prometheus" / "tests").glob("*.yml"))
    assert tests, "no promtool rule tests"
    promtool("test", "rules", *(f"/etc/prometheus/tests/{t.name}" for t in tests))


def test_every_target_is_up():
    def all_up() -> bool:
        targets = prometheus.get("/api/v1/targets")
        active = targets["activeTargets"]
        return {t["labels"]["job"] for t in active if t["health"] == "up"} >= JOBS and all(
            t["health"] == "up" for t in active
        )

    wait_for(all_up, 60, 2, "every scrape target up")


def test_alert_rules_are_loaded():
    groups = prometheus.get("/api/v1/rules")["groups"]
    names = {rule["name"] for group in groups for rule in group["rules"]}
    assert names >= REQUIRED_ALERTS, REQUIRED_ALERTS - names


def test_retention_is_bounded_by_time_and_size():
    flags = prometheus.get("/api/v1/status/flags")
    assert flags["storage.tsdb.retention.time"] not in {"", "0s"}
    assert flags["storage.tsdb.retention.size"] not in {"", "0B"}


def test_request_metrics_are_labelled_by_route_rule_not_raw_path(http):
    for item_id in (987654321, 987654322, 987654323):
        http.get(f"{BASE}/api/items/{item_id}", timeout=10)

    def labelled() -> bool:
        series = query('flask_http_request_duration_seconds_count{job="app"}')
        rules = {s["metric"].get("url_rule") for s in series}
        return "/api/items/<int:item_id>" in rules

    wait_for(labelled, 45, 2, "the route-rule label")
    series = query('flask_http_request_duration_seconds_count{job="app"}')
    for s in series:
        assert "98765432" not in str(s["metric"]), f"a raw id became a label: {s['metric']}"


# --- Multiprocess counters ---------------------------------------------------------------

HEALTHZ_COUNT = 'sum(flask_http_request_duration_seconds_count{job="app",url_rule="/healthz"})'


def fresh_healthz_count(after: float) -> float:
    """The /healthz request count from a scrape that happened after `after` (unix time)."""
    stamp = 'max(timestamp(flask_http_request_duration_seconds_count{url_rule="/healthz"}))'
    wait_for(lambda: (scalar(stamp) or 0) > after, 60, 1, "a fresh scrape")
    return scalar(HEALTHZ_COUNT) or 0.0


def send_healthz(count: int) -> set[int]:
    """Send `count` requests to /healthz through nginx; return the worker pids that served."""
    tag = uuid.uuid4().hex[:12]
    session = new_session(retry_on_429=False)

    def one(index: int) -> int:
        headers = {"X-Request-ID": f"count-{tag}-{index:05d}"}
        return session.get(f"{BASE}/healthz", headers=headers, timeout=10).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(one, range(count)))
    assert statuses == [200] * count
    pids = {
        line["pid"]
        for line in json_log_lines("app", "2m")
        if str(line.get("request_id", "")).startswith(f"count-{tag}-")
    }
    return pids


def worker_pids() -> list[int]:
    """The gunicorn workers in the app container: the children of the gunicorn master."""
    return gunicorn_processes()[1]


@pytest.fixture
def probes_paused() -> Iterator[None]:
    """The blackbox exporter's probes request /healthz too, every 15 s: stopped for the block,
    every /healthz counted is the test's own."""
    with stopped("blackbox-exporter"):
        yield


def test_counters_sum_every_worker_even_after_a_worker_is_killed(edge_limits_raised, probes_paused):
    n = 300
    workers = len(worker_pids())
    assert workers >= 2, "this test needs at least two workers"

    # The series exists only once a worker has served /healthz, which nothing may have done
    # since the app last started.
    send_healthz(1)
    before = fresh_healthz_count(time.time())
    served_by = send_healthz(n)
    assert len(served_by) >= 2, f"all requests went to one worker: {served_by}"
    after_first = fresh_healthz_count(time.time())
    assert after_first - before == n, f"counter grew by {after_first - before}, not {n}"

    exits_before = scalar("sum(app_gunicorn_worker_exits_total)") or 0.0
    victim = worker_pids()[0]
    compose("exec", "-T", "app", "python", "-c", f"import os; os.kill({victim}, {signal.SIGKILL})")
    wait_for(
        lambda: victim not in worker_pids() and len(worker_pids()) == workers,
        30,
        0.5,
        "the killed worker's replacement",
    )
    served_by = send_healthz(n)
    after_second = fresh_healthz_count(time.time())
    assert after_second - before == 2 * n, (
        f"after a worker was killed the counter grew by {after_second - before}, not {2 * n}"
    )
    exits_after = scalar("sum(app_gunicorn_worker_exits_total)") or 0.0
    assert exits_after >= exits_before + 1


# --- Alert delivery ----------------------------------------------------------------------


def fast_copy_of(alert: str, path: Path) -> None:
    """Write the shipped rule to PATH, copied with a 5 s `for:` and an `e2e` label."""
    for rules in sorted((ROOT / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(rules.read_text())["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alert:
                    # A label new to each run: Alertmanager's notification log (in its
                    # volume) would otherwise hold back a group it notified within
                    # repeat_interval, so a second run on the same stack would see nothing.
                    labels = {**rule["labels"], "e2e": f"fast-{uuid.uuid4().hex[:8]}"}
                    fast = {**rule, "for": "5s", "labels": labels}
                    path.write_text(
                        yaml.safe_dump({"groups": [{"name": "e2e-fast", "rules": [fast]}]})
                    )
                    path.chmod(0o644)
                    return
    pytest.fail(f"no shipped rule named {alert}")


# An alert whose delivery is tested -> the service whose outage fires it, and a label of the
# notification: an inside view (Redis's exporter) and the outside one (the edge's probe).
OUTAGES = {
    "RedisDown": ("redis", '"job":"redis"'),
    "EdgeDownFromOutside": ("nginx", '"probe":"https"'),
}


@pytest.fixture
def alert_receiver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A webhook receiver on Alertmanager's network, Alertmanager pointed at it (the webhook URL
    is a secret file), and Prometheus with a fast copy of the alert (the test's parameter) as
    one more rule file; both recreated as they were afterwards, the stopped service started."""
    alert = request.param
    network = next(n for n in inspect("alertmanager")["NetworkSettings"]["Networks"])
    fast_rules = tmp_path / "e2e-fast.yml"
    fast_copy_of(alert, fast_rules)
    tmp_path.chmod(0o755)
    name = f"alert-receiver-{uuid.uuid4().hex[:8]}"
    webhook = tmp_path / "alert_webhook_url"
    webhook.write_text(f"http://{name}:8000/alerts")
    webhook.chmod(0o644)
    fast_config = {"source": "e2e_fast", "target": "/etc/prometheus/rules/e2e-fast.yml"}
    prometheus_configs = [
        *inspect_configs("prometheus"),
        fast_config,
    ]
    with (
        capture_server(network, name, inspect("app")["Config"]["Image"]),
        overridden(
            "alertmanager",
            {"environment": {"ALERT_GROUP_WAIT": "1s"}},
            top={"secrets": {"alert_webhook_url": {"file": str(webhook)}}},
        ),
        overridden(
            "prometheus",
            {"configs": prometheus_configs},
            top={"configs": {"e2e_fast": {"file": str(fast_rules)}}},
        ),
    ):
        try:
            yield name
        finally:
            service = OUTAGES[alert][0]
            compose("start", service)
            wait_healthy(service)


def inspect_configs(service: str) -> list[dict[str, str]]:
    """The service's configs as compose.yaml declares them (an override replaces the list)."""
    return [
        {"source": c["source"], "target": c["target"]}
        for c in compose_config()["services"][service]["configs"]
    ]


@pytest.mark.parametrize("alert_receiver", list(OUTAGES), indirect=True)
def test_an_outage_alert_is_delivered_to_the_webhook(alert_receiver, request):
    alert = request.node.callspec.params["alert_receiver"]
    service, label = OUTAGES[alert]

    def fast_rule_loaded() -> bool:
        groups = prometheus.get("/api/v1/rules")["groups"]
        return any(g["name"] == "e2e-fast" for g in groups)

    wait_for(fast_rule_loaded, 30, 1, f"the e2e copy of {alert} to load")
    compose("stop", service)
    received: list[str] = []

    def delivered() -> bool:
        received[:] = [body for body in captured(alert_receiver) if f'"{alert}"' in body]
        return any('"status":"firing"' in body.replace(" ", "") for body in received)

    wait_for(delivered, 150, 2, f"{alert} at the webhook")
    assert label in received[-1].replace(" ", "")


def test_prometheus_is_back_to_the_shipped_rules_after_the_alert_test():
    groups = prometheus.get("/api/v1/rules")["groups"]
    assert "e2e-fast" not in {group["name"] for group in groups}
