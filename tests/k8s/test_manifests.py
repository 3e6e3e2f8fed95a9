"""The rendered overlays keep compose's configuration, topology and hardening."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.conftest import ROOT

pytestmark = pytest.mark.unit

Docs = list[dict[str, Any]]


def find(docs: Docs, kind: str, name: str) -> dict[str, Any]:
    """The object of that kind whose name is `name` or `name-<generated hash>`."""
    pattern = re.compile(rf"^{re.escape(name)}(-[a-z0-9]{{10}})?$")
    matches = [d for d in docs if d["kind"] == kind and pattern.match(d["metadata"]["name"])]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def containers(docs: Docs) -> dict[str, dict[str, Any]]:
    out = {}
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            spec = doc["spec"]["template"]["spec"]
            for container in [*spec.get("initContainers", []), *spec["containers"]]:
                out[container["name"]] = container
    return out


def policy(docs: Docs, name: str) -> dict[str, Any]:
    return find(docs, "NetworkPolicy", name)["spec"]


def sources(rule: dict[str, Any]) -> set[str]:
    return {
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for peer in rule.get("from", [])
        if "podSelector" in peer and "namespaceSelector" not in peer
    }


# --- Hardening ---------------------------------------------------------------------------------


def test_every_container_is_hardened(overlay, kv):
    _, docs = overlay
    assert kv.hardening_problems(docs) == []


def test_every_workload_of_compose_is_there_with_its_uid(overlay, kv):
    _, docs = overlay
    found = containers(docs)
    assert set(found) == set(kv.EXPECTED_UIDS)
    for name, container in found.items():
        assert container["securityContext"]["runAsUser"] == kv.EXPECTED_UIDS[name], name


def test_pods_mount_no_service_account_token(overlay):
    _, docs = overlay
    for doc in docs:
        if doc["kind"] == "ServiceAccount":
            assert doc["automountServiceAccountToken"] is False
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            assert doc["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


BREAKAGES = {
    "privileged": lambda c: c["securityContext"].update(privileged=True),
    "root": lambda c: c["securityContext"].update(runAsUser=0),
    "writable-root": lambda c: c["securityContext"].pop("readOnlyRootFilesystem"),
    "escalation": lambda c: c["securityContext"].update(allowPrivilegeEscalation=True),
    "capability": lambda c: c["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
    "no-drop": lambda c: c["securityContext"].pop("capabilities"),
    "seccomp": lambda c: c["securityContext"]["seccompProfile"].update(type="Unconfined"),
    "no-limits": lambda c: c["resources"].pop("limits"),
    "latest": lambda c: c.update(image="flask-stack/app:latest"),
    "no-tmp": lambda c: c.update(volumeMounts=[]),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_manifest_is_caught(rendered, kv, breakage):
    docs = copy.deepcopy(rendered["production"])
    BREAKAGES[breakage](containers(docs)["app"])
    problems = kv.hardening_problems(docs)
    assert problems, f"{breakage} not caught"
    assert all("Deployment/app/app" in p for p in problems), problems


def test_a_pod_level_regression_is_caught(rendered, kv):
    docs = copy.deepcopy(rendered["local"])
    spec = find(docs, "StatefulSet", "postgres")["spec"]["template"]["spec"]
    spec["automountServiceAccountToken"] = True
    spec["hostNetwork"] = True
    problems = kv.hardening_problems(docs)
    assert any("automountServiceAccountToken" in p for p in problems)
    assert any("hostNetwork" in p for p in problems)


# --- Schemas and checkov (need the tools virtualenv: make k8s-validate) ------------------------


def test_objects_pass_strict_schema_validation(overlay, kv):
    pytest.importorskip("kubernetes_validate")
    _, docs = overlay
    assert kv.schema_problems(docs) == []


def test_strict_schema_validation_catches_an_unknown_field(rendered, kv):
    pytest.importorskip("kubernetes_validate")
    docs = copy.deepcopy(rendered["local"])
    find(docs, "Deployment", "app")["spec"]["replica"] = 3
    assert any("Deployment/app" in p for p in kv.schema_problems(docs))


def test_checkov_passes_and_catches_privileged(rendered, kv, tmp_path):
    pytest.importorskip("checkov")
    clean = tmp_path / "clean.yaml"
    clean.write_text(yaml.safe_dump_all(rendered["production"]))
    assert kv.checkov_problems(clean) == []
    docs = copy.deepcopy(rendered["production"])
    containers(docs)["nginx"]["securityContext"]["privileged"] = True
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump_all(docs))
    problems = kv.checkov_problems(broken)
    assert any(p.startswith("checkov CKV_K8S_16:") and "nginx" in p for p in problems), problems


# --- Configuration: wiring only, every setting at its one default --------------------------


def test_the_app_gets_wiring_and_no_setting_or_version(overlay):
    _, docs = overlay
    env = find(docs, "ConfigMap", "app-env")["data"]
    assert set(env) == {
        "SECRET_KEY_FILE",
        "POSTGRES_HOST",
        "POSTGRES_PASSWORD_FILE",
        "REDIS_URL",
        "REDIS_PASSWORD_FILE",
    }
    # The version is the image's own (app/version.py): nothing in the render may override it.
    for container in containers(docs).values():
        names = {e["name"] for e in container.get("env", [])}
        assert "APP_VERSION" not in names, container["name"]
    config_maps = [d for d in docs if d["kind"] == "ConfigMap"]
    assert not any("APP_VERSION" in str(d.get("data", {})) for d in config_maps)


def test_nginx_finds_the_app_through_the_cluster_dns_and_its_certificate(overlay):
    name, docs = overlay
    env = find(docs, "ConfigMap", "nginx-env")["data"]
    assert env["NGINX_UPSTREAM"] == "app.flask-stack.svc.cluster.local:8000"
    assert env["NGINX_RESOLVER"] == "kube-dns.kube-system.svc.cluster.local"
    if name == "production":
        assert env["HTTPS_PORT"] == "443"
    nginx = find(docs, "Deployment", "nginx")["spec"]["template"]["spec"]
    certs = next(v for v in nginx["volumes"] if v["name"] == "certs")["secret"]
    assert find(docs, "Secret", "nginx-tls")["metadata"]["name"] == certs["secretName"]
    assert {i["key"]: i["path"] for i in certs["items"]} == {
        "tls.crt": "fullchain.pem",
        "tls.key": "privkey.pem",
    }
    mount = next(m for m in nginx["containers"][0]["volumeMounts"] if m["name"] == "certs")
    assert mount["mountPath"] == "/etc/nginx/certs"


def test_nginx_serves_the_static_files_the_app_image_publishes(overlay):
    _, docs = overlay
    nginx = find(docs, "Deployment", "nginx")["spec"]["template"]["spec"]
    (init,) = nginx["initContainers"]
    assert init["image"] == containers(docs)["app"]["image"]
    assert init["command"][-2:] == ["/app/static-build", "/srv/static"]
    served = next(m for m in nginx["containers"][0]["volumeMounts"] if m["name"] == "static")
    assert served["mountPath"] == "/usr/share/nginx/static" and served["readOnly"] is True


def test_secrets_are_files_under_run_secrets_and_the_migration_gets_the_database_only(overlay):
    _, docs = overlay
    secret = find(docs, "Secret", "app-secrets")
    assert set(secret["data"]) == {"secret_key", "postgres_password", "redis_password"}
    mounted = {}
    for kind, name in (("Deployment", "app"), ("Job", "migrate")):
        spec = find(docs, kind, name)["spec"]["template"]["spec"]
        container = containers(docs)[name]
        assert not any("secretKeyRef" in str(e) for e in container.get("env", []))
        assert "/run/secrets" in {m["mountPath"] for m in container["volumeMounts"]}
        volume = next(v for v in spec["volumes"] if v["name"] == "secrets")["secret"]
        mounted[name] = {item["key"] for item in volume["items"]}
    assert mounted == {
        "app": {"secret_key", "postgres_password", "redis_password"},
        "migrate": {"postgres_password"},
    }


def test_images(overlay):
    name, docs = overlay
    found = containers(docs)
    if name == "local":
        assert found["app"]["image"] == "flask-stack/app:local"
        assert found["nginx"]["image"] == "flask-stack/nginx:local"
    else:
        assert not found["app"]["image"].endswith(":local")
        assert not found["nginx"]["image"].endswith(":local")
    assert found["migrate"]["image"] == found["app"]["image"]


# --- Probes, migration, scaling ---------------------------------------------------------------


def test_app_probes_follow_the_rule_no_database_outage_empties_the_service(overlay):
    _, docs = overlay
    app = containers(docs)["app"]
    ports = {p["name"]: p["containerPort"] for p in app["ports"]}
    assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert app["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert app["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert ports[app["livenessProbe"]["httpGet"]["port"]] == 8000
    assert ports[app["readinessProbe"]["httpGet"]["port"]] == 8000


def test_migration_job(overlay):
    _, docs = overlay
    job = find(docs, "Job", "migrate")
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")
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


# --- Network policies -----------------------------------------------------------------------


def test_default_deny_in_and_out(overlay):
    _, docs = overlay
    spec = policy(docs, "default-deny-all")
    assert spec["podSelector"] == {}
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in spec and "egress" not in spec


def test_only_nginx_is_reachable_from_outside(overlay):
    _, docs = overlay
    for doc in docs:
        if doc["kind"] != "NetworkPolicy":
            continue
        for rule in doc["spec"].get("ingress", []):
            if not rule.get("from"):
                assert doc["metadata"]["name"] == "nginx"
                assert sorted(p["port"] for p in rule["ports"]) == [8080, 8443]


def test_flows_mirror_the_compose_networks(overlay):
    _, docs = overlay
    app_in = policy(docs, "app")["ingress"]
    assert {(p["port"], s) for r in app_in for p in r["ports"] for s in sources(r)} == {
        (8000, "nginx"),
        (9100, "prometheus"),
    }
    assert sources(policy(docs, "postgres")["ingress"][0]) == {
        "app",
        "migrate",
        "postgres-exporter",
    }
    assert sources(policy(docs, "redis")["ingress"][0]) == {"app", "redis-exporter"}
    for data in ("postgres", "redis", "postgres-exporter", "redis-exporter", "migrate"):
        for rule in policy(docs, data).get("egress", []):
            assert all("ipBlock" not in peer for peer in rule["to"]), f"{data} has a route out"


def test_every_workload_has_its_own_policy(overlay):
    _, docs = overlay
    selected = {
        d["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        for d in docs
        if d["kind"] == "NetworkPolicy"
    }
    workloads = {
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet", "Job")
    }
    assert workloads <= selected


# --- Prometheus ----------------------------------------------------------------------------


def test_app_pods_carry_scrape_annotations(overlay):
    _, docs = overlay
    annotations = find(docs, "Deployment", "app")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9100"


def test_service_monitor_is_outside_the_build_and_matches(overlay):
    _, docs = overlay
    monitor = yaml.safe_load((ROOT / "deploy/k8s/monitoring/servicemonitor.yaml").read_text())
    assert monitor["kind"] == "ServiceMonitor"
    assert monitor["apiVersion"].startswith("monitoring.coreos.com/")
    assert not any(d["kind"] == "ServiceMonitor" for d in docs)
    service = find(docs, "Service", "app-metrics")
    labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}


# --- No committed secrets ----------------------------------------------------------------------


def test_no_secret_file_is_tracked():
    tracked = subprocess.run(
        ["git", "ls-files", "deploy/k8s"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    secret_names = {
        "secret_key",
        "postgres_password",
        "redis_password",
        "fullchain.pem",
        "privkey.pem",
    }
    assert not [p for p in tracked if Path(p).name in secret_names]
