"""The same stack on a single-node Docker Swarm: healing, rolling out a new build, scaling. The
contract suite (tests/contract) runs against it too."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests

from tests.support import stack
from tests.support.edge import BASE, new_session
from tests.support.load import create_item, read_page, streams
from tests.support.prometheus import query
from tests.support.settings import PROMETHEUS_PORT, ROOT
from tests.support.stack import wait_for

STACK = os.environ.get("SWARM_STACK", "flaskswarm")
APP = f"{STACK}_app"


def docker(*args: str) -> str:
    """A docker command's output (the command must succeed)."""
    return stack.docker(*args, timeout=300).stdout


def running_tasks(service: str) -> list[dict]:
    out = docker("service", "ps", "--filter", "desired-state=running", "--no-trunc",
                 "--format", "{{json .}}", service)  # fmt: skip
    return [json.loads(line) for line in out.splitlines()]


def containers(service: str) -> list[str]:
    out = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}")
    return out.split()


def healthy_replicas(service: str) -> int:
    statuses = [
        docker("inspect", "-f", "{{.State.Health.Status}}", cid).strip()
        for cid in containers(service)
    ]
    return statuses.count("healthy")


def wait_replicas(service: str, count: int, timeout: float = 180) -> None:
    def settled() -> bool:
        tasks = running_tasks(service)
        return (
            len(tasks) == count
            and all(t["CurrentState"].startswith("Running") for t in tasks)
            and healthy_replicas(service) == count
        )

    wait_for(settled, timeout, 1, f"{service} at {count} healthy replicas")


def test_migrations_ran_once_per_deploy_not_once_per_replica():
    tasks = json.loads("[" + ",".join(docker(
        "service", "ps", "--no-trunc", "--format", "{{json .}}", f"{STACK}_migrate"
    ).splitlines()) + "]")  # fmt: skip
    completed = [t for t in tasks if t["CurrentState"].startswith("Complete")]
    assert len(completed) == 1, tasks
    assert len(running_tasks(APP)) >= 3
    app_logs = docker("service", "logs", "--raw", APP)
    assert "app.migration_job" not in app_logs, "an app replica ran migrations"
    migrate_logs = docker("service", "logs", "--raw", f"{STACK}_migrate")
    assert "app.migration_job" in migrate_logs


def test_every_app_replica_is_scraped_by_prometheus():
    # The stack file's replica count (APP_REPLICAS, 3 by default) runs, and each is scraped.
    wait_replicas(APP, 3)

    def all_scraped() -> bool:
        return len(query('up{job="app"} == 1')) == 3

    wait_for(all_scraped, 60, 2, "one app target per replica")


def test_the_worker_the_one_scheduler_and_the_broker_run():
    for service, count in [("worker", 1), ("scheduler", 1), ("broker", 1)]:
        wait_replicas(f"{STACK}_{service}", count)
    mode = docker("service", "inspect", "-f", "{{json .Spec.Mode}}", f"{STACK}_scheduler")
    assert json.loads(mode) == {"Replicated": {"Replicas": 1}}
    # Found by DNS (refreshed every 15 s) once its task runs, then scraped.
    wait_for(lambda: bool(query('up{job="worker"} == 1')), 60, 2, "Prometheus scraping the worker")


def test_swarm_does_not_publish_prometheus():
    ports = docker("service", "inspect", "-f", "{{json .Endpoint.Ports}}", f"{STACK}_prometheus")
    assert json.loads(ports) in (None, []), ports
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/targets", timeout=5)
    # It still answers inside, and scrapes every target.
    assert query('up{job="prometheus"} == 1')


STREAMS = [read_page, read_page, create_item]


def test_a_killed_app_task_is_healed_and_only_in_flight_requests_may_fail():
    before = set(containers(APP))
    victim = sorted(before)[0]
    with streams(STREAMS, pause=0.05, retry_on_429=True) as outcomes:
        time.sleep(2)
        docker("kill", victim)
        wait_replicas(APP, 3)
        time.sleep(3)
    in_flight_bound = len(STREAMS)  # one request per stream can be on the dead task
    assert sum(outcomes.failures().values()) <= in_flight_bound, outcomes.snapshot()
    assert outcomes.total > 50
    after = set(containers(APP))
    assert victim not in after and after - before, "no new task replaced the killed one"


def completed_migrations() -> list[dict]:
    tasks = [json.loads(line) for line in docker(
        "service", "ps", "--no-trunc", "--format", "{{json .}}", f"{STACK}_migrate"
    ).splitlines()]  # fmt: skip
    return [t for t in tasks if t["CurrentState"].startswith("Complete")]


@pytest.fixture
def changed_app() -> Iterator[str]:
    """The app in the work tree with a new version, restored afterwards."""
    path = ROOT / "app" / "version.py"
    original = path.read_text()
    version = f"1.0.0+swarm.{int(time.time())}"
    path.write_text(re.sub(r'__version__ = "[^"]*"', f'__version__ = "{version}"', original))
    try:
        yield version
    finally:
        path.write_text(original)


def test_make_swarm_up_rolls_a_changed_app_out_with_no_failed_request(http, changed_app):
    migrations_before = len(completed_migrations())
    with streams(STREAMS, pause=0.05, retry_on_429=True) as outcomes:
        time.sleep(2)
        result = subprocess.run(["make", "-s", "swarm-up"], cwd=ROOT, capture_output=True,
                                text=True, timeout=900)  # fmt: skip
        time.sleep(3)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert outcomes.total > 100, outcomes.snapshot()
    assert not outcomes.failures(), outcomes.snapshot()
    served = {http.get(f"{BASE}/health", timeout=5).json()["version"] for _ in range(10)}
    assert served == {changed_app}, f"replicas serve {served}"
    image = docker("service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", APP)
    assert image.strip() != "flask-stack/app:local", "the stack runs a fixed tag, not this build"
    migrations = completed_migrations()
    assert len(migrations) == migrations_before + 1, "the new build's migrations did not run once"
    assert migrations[0]["Image"].split("@")[0] == image.strip().split("@")[0]


def test_scaling_the_app_to_five_and_back():
    docker("service", "scale", "--detach", f"{APP}=5")
    wait_replicas(APP, 5)
    assert set(new_session().get(f"{BASE}/healthz", timeout=5).status_code
               for _ in range(20)) == {200}  # fmt: skip
    docker("service", "scale", "--detach", f"{APP}=3")
    wait_replicas(APP, 3)
    assert new_session().get(f"{BASE}/health", timeout=5).status_code == 200
