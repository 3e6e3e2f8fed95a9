"""The same stack on a single-node Docker Swarm: contract, healing, rolling update, scaling."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable

import requests

from tests.e2e.stack import (
    BASE,
    ROOT,
    image_variables,
    new_session,
    prometheus_query,
    wait_for,
)

# The public contract, unchanged: these tests drive only the published ports.
from tests.e2e.test_api import (  # noqa: F401
    test_create_returns_201_the_item_and_its_public_url,
    test_delete_returns_204_and_the_item_is_gone_even_if_it_was_cached,
    test_health_reports_every_dependency_connected,
    test_list_is_newest_first_with_total_limit_and_offset,
    test_malformed_json_is_400,
    test_patch_changes_the_given_fields_and_a_read_after_it_is_never_stale,
    test_unknown_resources_and_routes_are_404_json,
    test_validation_errors_are_422_and_name_the_field,
    test_wrong_method_is_405_json,
)
from tests.e2e.test_edge import (  # noqa: F401
    test_a_body_over_1_mib_gets_413_json,
    test_a_burst_gets_429_with_retry_after_and_no_5xx,
    test_alpn_negotiates_http2,
    test_fingerprinted_assets_are_cached_for_a_year_as_immutable,
    test_http_redirects_with_301_keeping_host_port_path_and_query,
    test_internal_endpoints_are_404_at_the_edge,
    test_security_headers_appear_once_on_a_200,
    test_security_headers_appear_once_on_a_404,
    test_tls_1_2_and_1_3_are_accepted,
)

STACK = os.environ.get("SWARM_STACK", "flaskswarm")
APP = f"{STACK}_app"


def docker(*args: str, timeout: float = 300) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


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


class Stream:
    """Steady request streams through nginx, counting every outcome."""

    def __init__(self, kinds: list[str]) -> None:
        self.outcomes: dict[str, Counter[str]] = {kind: Counter() for kind in set(kinds)}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(k,)) for k in kinds]

    def run(self, kind: str) -> None:
        session = new_session()
        send: Callable[[], requests.Response] = {
            "read": lambda: session.get(f"{BASE}/api/items?limit=5", timeout=30),
            "write": lambda: session.post(f"{BASE}/api/items", json={"name": "swarm"}, timeout=30),
        }[kind]
        while not self.stop.is_set():
            try:
                self.outcomes[kind][str(send().status_code)] += 1
            except requests.RequestException as error:
                self.outcomes[kind][f"error: {type(error).__name__}"] += 1
            time.sleep(0.05)

    def __enter__(self) -> Stream:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def failures(self, kind: str) -> int:
        return sum(n for k, n in self.outcomes[kind].items() if not k.startswith(("200", "201")))

    def total(self, kind: str) -> int:
        return sum(self.outcomes[kind].values())


def test_migrations_ran_once_per_deploy_not_once_per_replica():
    tasks = json.loads("[" + ",".join(docker(
        "service", "ps", "--no-trunc", "--format", "{{json .}}", f"{STACK}_migrate"
    ).splitlines()) + "]")  # fmt: skip
    completed = [t for t in tasks if t["CurrentState"].startswith("Complete")]
    assert len(completed) == 1, tasks
    assert len(running_tasks(APP)) >= 3
    app_logs = docker("service", "logs", "--raw", APP)
    assert "app.migrate" not in app_logs, "an app replica ran migrations"
    migrate_logs = docker("service", "logs", "--raw", f"{STACK}_migrate")
    assert "app.migrate" in migrate_logs


def test_every_app_replica_is_scraped_by_prometheus():
    def all_scraped() -> bool:
        up = prometheus_query('up{job="app"} == 1')
        return len(up) == len(running_tasks(APP))

    wait_for(all_scraped, 60, 2, "one app target per replica")


def test_a_killed_app_task_is_healed_and_only_in_flight_requests_may_fail():
    before = set(containers(APP))
    victim = sorted(before)[0]
    with Stream(["read", "read", "write"]) as stream:
        time.sleep(2)
        docker("kill", victim)
        wait_replicas(APP, 3)
        time.sleep(3)
    in_flight_bound = len(stream.threads)  # one request per stream can be on the dead task
    failures = stream.failures("read") + stream.failures("write")
    assert failures <= in_flight_bound, stream.outcomes
    assert stream.total("read") > 50
    after = set(containers(APP))
    assert victim not in after and after - before, "no new task replaced the killed one"


def test_a_rolling_update_to_a_new_image_fails_no_request(http):
    new_version = f"2.0.0-swarm-{int(time.time())}"
    image = f"{os.environ.get('COMPOSE_PROJECT_NAME', 'flask-stack')}/app:swarm-next"
    build = ["build", "-q", "-t", image, "--build-arg", f"APP_VERSION={new_version}"]
    python_image = os.environ.get("PYTHON_IMAGE") or image_variables().get("PYTHON_IMAGE")
    if python_image:
        build += ["--build-arg", f"PYTHON_IMAGE={python_image}"]
    docker(*build, str(ROOT), timeout=600)
    with Stream(["read", "read", "write"]) as stream:
        time.sleep(2)
        docker("service", "update", "--quiet", "--detach", "--image", image,
               "--env-add", f"APP_VERSION={new_version}", APP)  # fmt: skip

        def rolled_out() -> bool:
            state = docker("service", "inspect", "-f", "{{.UpdateStatus.State}}", APP).strip()
            assert state not in {"rollback_started", "rollback_completed", "paused"}, state
            return state == "completed"

        wait_for(rolled_out, 300, 2, "the rolling update")
        wait_replicas(APP, 3)
        time.sleep(3)
    assert stream.total("read") > 50
    assert stream.failures("read") == 0, stream.outcomes
    assert stream.failures("write") == 0, stream.outcomes
    wait_for(lambda: http.get(f"{BASE}/health", timeout=5).json()["version"] == new_version, 30)


def test_scaling_the_app_to_five_and_back():
    docker("service", "scale", "--detach", f"{APP}=5")
    wait_replicas(APP, 5)
    assert set(new_session().get(f"{BASE}/healthz", timeout=5).status_code
               for _ in range(20)) == {200}  # fmt: skip
    docker("service", "scale", "--detach", f"{APP}=3")
    wait_replicas(APP, 3)
    assert new_session().get(f"{BASE}/health", timeout=5).status_code == 200
