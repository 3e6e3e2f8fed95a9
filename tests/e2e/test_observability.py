"""Metrics that are right under gunicorn, every target scraped, rules tested and loaded. Alerts
delivered to a webhook are in test_outages.py."""

from __future__ import annotations

import concurrent.futures
import signal
import time
import uuid
from collections.abc import Iterator

import pytest
import yaml

from tests.support import prometheus
from tests.support.edge import BASE, new_session
from tests.support.prometheus import query, scalar
from tests.support.settings import ROOT, compose_config
from tests.support.stack import (
    compose,
    docker,
    gunicorn_processes,
    inspect,
    json_log_lines,
    stopped,
    wait_for,
)


def shipped_jobs() -> set[str]:
    """The scrape jobs of prometheus/prometheus.yml, less `backup`: the backup service runs
    only in its profile, and its job has no target while it does not run."""
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    return {job["job_name"] for job in config["scrape_configs"]} - {"backup"}


def shipped_rules() -> set[str]:
    """The name of every rule (alerting and recording) in prometheus/rules/."""
    return {
        rule.get("alert") or rule["record"]
        for path in (ROOT / "prometheus" / "rules").glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
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
        up = {t["labels"]["job"] for t in active if t["health"] == "up"}
        return up >= shipped_jobs() and all(t["health"] == "up" for t in active)

    wait_for(all_up, 60, 2, "every scrape target up")


def test_every_shipped_rule_is_loaded():
    groups = prometheus.get("/api/v1/rules")["groups"]
    loaded = {rule["name"] for group in groups for rule in group["rules"]}
    assert loaded == shipped_rules(), {"missing": shipped_rules() - loaded,
                                       "unknown": loaded - shipped_rules()}  # fmt: skip


def test_retention_is_the_configured_time_and_size():
    """Prometheus runs the retention compose.yaml (with .env) gives it, time and size both."""
    command = compose_config()["services"]["prometheus"]["command"]
    configured = dict(arg.removeprefix("--").split("=", 1) for arg in command if "=" in arg)
    flags = prometheus.get("/api/v1/status/flags")
    for flag in ("storage.tsdb.retention.time", "storage.tsdb.retention.size"):
        assert configured[flag] not in {"", "0", "0s", "0B"}, f"{flag} unbounded"
        # Prometheus reads a size in powers of two and says so: 1GB runs as 1GiB.
        running = flags[flag].replace("iB", "B")
        assert running == configured[flag], (flag, flags[flag], configured[flag])


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


@pytest.mark.exclusive
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
