"""Metrics that are right under gunicorn, every target scraped, rules tested, alerts delivered."""

from __future__ import annotations

import concurrent.futures
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from .stack import (
    BASE,
    CAPTURE_SERVER,
    PROMETHEUS,
    ROOT,
    app_log_lines,
    compose,
    docker,
    gunicorn_processes,
    inspect,
    new_session,
    prometheus_query,
    prometheus_scalar,
    wait_for,
    wait_healthy,
)

JOBS = {"app", "prometheus", "postgres", "redis", "nginx", "alertmanager"}
REQUIRED_ALERTS = {
    "TargetDown",
    "PostgresDown",
    "RedisDown",
    "HighErrorRatio",
    "HighLatencyP95",
    "DatabasePoolNearExhaustion",
    "AppMetricsMissing",
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
        targets = requests.get(f"{PROMETHEUS}/api/v1/targets", timeout=10).json()
        active = targets["data"]["activeTargets"]
        return {t["labels"]["job"] for t in active if t["health"] == "up"} >= JOBS and all(
            t["health"] == "up" for t in active
        )

    wait_for(all_up, 60, 2, "every scrape target up")


def test_alert_rules_are_loaded():
    groups = requests.get(f"{PROMETHEUS}/api/v1/rules", timeout=10).json()["data"]["groups"]
    names = {rule["name"] for group in groups for rule in group["rules"]}
    assert names >= REQUIRED_ALERTS, REQUIRED_ALERTS - names


def test_retention_is_bounded_by_time_and_size():
    flags = requests.get(f"{PROMETHEUS}/api/v1/status/flags", timeout=10).json()["data"]
    assert flags["storage.tsdb.retention.time"] not in {"", "0s"}
    assert flags["storage.tsdb.retention.size"] not in {"", "0B"}


def test_request_metrics_are_labelled_by_route_rule_not_raw_path(http):
    for item_id in (987654321, 987654322, 987654323):
        http.get(f"{BASE}/api/items/{item_id}", timeout=10)

    def labelled() -> bool:
        series = prometheus_query('flask_http_request_duration_seconds_count{job="app"}')
        rules = {s["metric"].get("url_rule") for s in series}
        return "/api/items/<int:item_id>" in rules

    wait_for(labelled, 45, 2, "the route-rule label")
    series = prometheus_query('flask_http_request_duration_seconds_count{job="app"}')
    for s in series:
        assert "98765432" not in str(s["metric"]), f"a raw id became a label: {s['metric']}"


# --- Multiprocess counters ---------------------------------------------------------------

HEALTHZ_COUNT = 'sum(flask_http_request_duration_seconds_count{job="app",url_rule="/healthz"})'


def fresh_healthz_count(after: float) -> float:
    """The /healthz request count from a scrape that happened after `after` (unix time)."""
    stamp = 'max(timestamp(flask_http_request_duration_seconds_count{url_rule="/healthz"}))'
    wait_for(lambda: (prometheus_scalar(stamp) or 0) > after, 60, 1, "a fresh scrape")
    return prometheus_scalar(HEALTHZ_COUNT) or 0.0


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
        for line in app_log_lines("2m")
        if str(line.get("request_id", "")).startswith(f"count-{tag}-")
    }
    return pids


def worker_pids() -> list[int]:
    """The gunicorn workers in the app container: the children of the gunicorn master."""
    return gunicorn_processes()[1]


def test_counters_sum_every_worker_even_after_a_worker_is_killed():
    n = 300
    workers = int((inspect("app")["Config"]["Env"] and _env("app", "GUNICORN_WORKERS")) or 2)
    assert workers >= 2, "this test needs at least two workers"

    before = fresh_healthz_count(time.time())
    served_by = send_healthz(n)
    assert len(served_by) >= 2, f"all requests went to one worker: {served_by}"
    after_first = fresh_healthz_count(time.time())
    assert after_first - before == n, f"counter grew by {after_first - before}, not {n}"

    exits_before = prometheus_scalar("sum(app_gunicorn_worker_exits_total)") or 0.0
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
    exits_after = prometheus_scalar("sum(app_gunicorn_worker_exits_total)") or 0.0
    assert exits_after >= exits_before + 1


def _env(service: str, name: str) -> str | None:
    for entry in inspect(service)["Config"]["Env"]:
        key, _, value = entry.partition("=")
        if key == name:
            return value
    return None


# --- Alert delivery ----------------------------------------------------------------------


FAST_RULES = ROOT / "prometheus" / "rules" / "zz-e2e-fast.yml"


def write_fast_copy_of(alert: str) -> None:
    """The shipped rule, copied with a 5 s `for:` and an `e2e` label, in a file of its own."""
    for path in sorted((ROOT / "prometheus" / "rules").glob("*.yml")):
        if path == FAST_RULES:
            continue
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alert:
                    fast = {**rule, "for": "5s", "labels": {**rule["labels"], "e2e": "fast"}}
                    FAST_RULES.write_text(
                        yaml.safe_dump({"groups": [{"name": "e2e-fast", "rules": [fast]}]})
                    )
                    FAST_RULES.chmod(0o644)
                    return
    pytest.fail(f"no shipped rule named {alert}")


def reload_prometheus() -> None:
    compose("kill", "-s", "HUP", "prometheus")


@pytest.fixture
def alert_receiver() -> Iterator[str]:
    """A webhook receiver container on the edge network, Alertmanager pointed at it."""
    network = next(n for n in inspect("alertmanager")["NetworkSettings"]["Networks"])
    name = f"alert-receiver-{uuid.uuid4().hex[:8]}"
    image = inspect("app")["Config"]["Image"]
    docker("run", "-d", "--rm", "--name", name, "--network", network,
           "--entrypoint", "python", image, "-c", CAPTURE_SERVER)  # fmt: skip
    write_fast_copy_of("RedisDown")
    reload_prometheus()
    webhook = {"ALERT_WEBHOOK_URL": f"http://{name}:8000/alerts", "ALERT_GROUP_WAIT": "1s"}
    compose("up", "-d", "--no-deps", "--wait", "alertmanager", env=webhook)
    try:
        yield name
    finally:
        FAST_RULES.unlink(missing_ok=True)
        reload_prometheus()
        compose("start", "redis")
        wait_healthy("redis")
        compose("up", "-d", "--no-deps", "--wait", "alertmanager")
        docker("rm", "-f", name, check=False)


def test_redis_down_alert_is_delivered_to_the_webhook(alert_receiver):
    def fast_rule_loaded() -> bool:
        groups = requests.get(f"{PROMETHEUS}/api/v1/rules", timeout=10).json()["data"]["groups"]
        return any(g["name"] == "e2e-fast" for g in groups)

    wait_for(fast_rule_loaded, 30, 1, "the e2e copy of RedisDown to load")
    compose("stop", "redis")
    received: list[str] = []

    def delivered() -> bool:
        logs = docker("logs", alert_receiver).stdout
        received[:] = [line for line in logs.splitlines() if '"RedisDown"' in line]
        return any('"status":"firing"' in line.replace(" ", "") for line in received)

    wait_for(delivered, 150, 2, "RedisDown at the webhook")
    assert '"job":"redis"' in received[-1].replace(" ", "")


def test_no_fast_rule_file_is_left_behind():
    assert not Path(FAST_RULES).exists()
