"""The background jobs, worker and scheduler: compose's command, healthcheck and stop grace,
metrics from a memory /tmp, one scheduler at a time."""

from __future__ import annotations

import re

import pytest

from tests.k8s.compose_file import compose_seconds, compose_service
from tests.k8s.conftest import ROOT
from tests.k8s.manifests import containers, env_of, find, pod_of

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("service", ["worker", "scheduler"])
def test_the_job_services_run_composes_command_and_healthcheck(overlay, service):
    _, docs = overlay
    container = containers(docs)[service]
    assert container["command"] == compose_service(service)["command"]
    assert not container.get("args")
    healthcheck = compose_service(service)["healthcheck"]
    assert healthcheck["test"][0] == "CMD"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["exec"]["command"] == healthcheck["test"][1:], probe
        assert container[probe]["periodSeconds"] == compose_seconds(healthcheck["interval"])
        assert container[probe]["timeoutSeconds"] == compose_seconds(healthcheck["timeout"])


def test_the_worker_lets_running_jobs_finish_on_stop(overlay):
    # Celery's warm shutdown within compose's stop_grace_period; a rollout starts the new
    # worker before the old one stops.
    _, docs = overlay
    worker = find(docs, "Deployment", "worker")["spec"]
    grace = compose_seconds(compose_service("worker")["stop_grace_period"])
    assert worker["template"]["spec"]["terminationGracePeriodSeconds"] == grace == 60
    assert worker["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_the_worker_serves_its_metrics_from_a_memory_tmp(overlay):
    # The image's PROMETHEUS_MULTIPROC_DIR lies on the worker's /tmp, an emptyDir in memory
    # (compose's tmpfs); the main process serves the sum on 9100, found through a headless
    # Service (every replica, as compose's DNS discovery of `worker`).
    _, docs = overlay
    (multiproc,) = re.findall(r"PROMETHEUS_MULTIPROC_DIR=(\S+)", (ROOT / "Dockerfile").read_text())
    worker = containers(docs)["worker"]
    assert "PROMETHEUS_MULTIPROC_DIR" not in env_of(docs, "worker")
    spec = pod_of(docs, "worker")
    volumes = {v["name"]: v for v in spec["volumes"]}
    (tmp,) = [m for m in worker["volumeMounts"] if multiproc.startswith(m["mountPath"] + "/")]
    assert volumes[tmp["name"]]["emptyDir"]["medium"] == "Memory"
    ports = {p["name"]: p["containerPort"] for p in worker["ports"]}
    assert ports == {"metrics": 9100}
    service = find(docs, "Service", "worker-metrics")["spec"]
    assert service["clusterIP"] == "None"
    assert service["selector"] == {"app.kubernetes.io/name": "worker"}
    assert [(p["port"], p["targetPort"]) for p in service["ports"]] == [(9100, "metrics")]


def test_the_scheduler_is_one_replica_never_two_at_once(overlay):
    # Celery beat publishes each period's job; Recreate stops the old pod before the new one
    # starts, and no autoscaler may add one.
    _, docs = overlay
    scheduler = find(docs, "Deployment", "scheduler")["spec"]
    assert scheduler["replicas"] == 1
    assert scheduler["strategy"] == {"type": "Recreate"}
    targets = {
        d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"
    }
    assert "scheduler" not in targets
    container = containers(docs)["scheduler"]
    assert "/tmp/celerybeat-schedule" in container["command"]
    assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}
