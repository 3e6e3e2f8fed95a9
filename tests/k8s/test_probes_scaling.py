"""Probes, migration, scaling: the app's probes, db-setup before the migrations, the HPA and PDBs,
the stateful services."""

from __future__ import annotations

import ast

import pytest

from tests.k8s.conftest import ROOT
from tests.k8s.manifests import containers, env_of, find

pytestmark = pytest.mark.unit


def trusted_hosts(server_name: str | None) -> set[str]:
    """app/config.py's TRUSTED_HOSTS: SERVER_NAME's names plus the loopback names."""
    source = (ROOT / "app/config.py").read_text()
    (assignment,) = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == "LOOPBACK_HOSTS" for t in node.targets)
    ]
    loopback = set(ast.literal_eval(assignment.value))
    assert loopback, "LOOPBACK_HOSTS is empty"
    return {*(server_name or "localhost 127.0.0.1").split(), *loopback}


def test_app_probes_follow_the_rule_no_database_outage_empties_the_service(overlay):
    _, docs = overlay
    app = containers(docs)["app"]
    ports = {p["name"]: p["containerPort"] for p in app["ports"]}
    assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert app["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert app["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert ports[app["livenessProbe"]["httpGet"]["port"]] == 8000
    assert ports[app["readinessProbe"]["httpGet"]["port"]] == 8000


@pytest.mark.parametrize("probe", ["startupProbe", "livenessProbe", "readinessProbe"])
def test_app_probes_send_a_host_the_app_trusts(overlay, probe):
    # Without it the kubelet sends the pod's IP as Host, which the app answers with 400.
    _, docs = overlay
    trusted = trusted_hosts(env_of(docs, "app").get("SERVER_NAME"))
    headers = {
        h["name"].lower(): h["value"]
        for h in containers(docs)["app"][probe]["httpGet"].get("httpHeaders", [])
    }
    assert "host" in headers, f"{probe} sends the pod IP as Host"
    assert headers["host"].rsplit(":", 1)[0] in trusted


def test_the_app_trusts_the_host_names_nginx_serves(overlay):
    name, docs = overlay
    served = env_of(docs, "nginx").get("SERVER_NAME")
    assert env_of(docs, "app").get("SERVER_NAME") == served
    if name == "production":
        assert served == "www.example.com"
    assert "TRUSTED_PROXIES" not in env_of(docs, "app")


def test_db_setup_runs_before_the_migrations(overlay):
    _, docs = overlay
    spec = find(docs, "Job", "migrate")["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["db-setup"]
    assert [c["name"] for c in spec["containers"]] == ["migrate"]
    assert spec["restartPolicy"] in ("OnFailure", "Never")
    assert containers(docs)["migrate"]["command"] == ["python", "-m", "app.migration_job"]


def test_hpa_and_pdbs(overlay):
    _, docs = overlay
    hpa = find(docs, "HorizontalPodAutoscaler", "app")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "app",
    }
    assert hpa["spec"]["minReplicas"] >= 1
    for name in ("app", "nginx"):
        pdb = find(docs, "PodDisruptionBudget", name)
        assert pdb["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}


def test_stateful_services_are_statefulsets(overlay):
    _, docs = overlay
    find(docs, "StatefulSet", "postgres")
    find(docs, "StatefulSet", "redis")
    find(docs, "StatefulSet", "broker")
