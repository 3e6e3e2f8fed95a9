"""Prometheus: scrape annotations, compose's job names, the ServiceMonitor example."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.k8s.conftest import ROOT
from tests.k8s.manifests import config_map, find

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", ["app", "worker"])
def test_app_image_pods_carry_scrape_annotations(overlay, name):
    _, docs = overlay
    annotations = find(docs, "Deployment", name)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9100"


def _scrape_jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_prometheus_scrapes_composes_jobs_under_their_names(overlay):
    # The same job names as compose's prometheus/prometheus.yml (but Alertmanager, the `acme`
    # certificate client, not carried over: cert-manager is Kubernetes' way, and the blackbox
    # probes of Compose's edge: an Ingress is probed from outside the cluster; nor the optional
    # backup service, which Kubernetes leaves to the cluster's own backup tooling), so the
    # alert rules' `job=` selectors (prometheus/rules/*.yml) find their series when loaded
    # into this Prometheus; each target is a Service of the render.
    _, docs = overlay
    k8s = _scrape_jobs(yaml.safe_load(config_map(docs, "prometheus-config")["prometheus.yml"]))
    ours = _scrape_jobs(yaml.safe_load((ROOT / "prometheus/prometheus.yml").read_text()))
    assert set(k8s) == set(ours) - {"alertmanager", "acme", "blackbox", "backup"}
    rules = "\n".join(p.read_text() for p in sorted((ROOT / "prometheus/rules").glob("*.yml")))
    assert set(re.findall(r'job="([^"]+)"', rules)) <= set(k8s)
    services = {
        d["metadata"]["name"]: {p["port"] for p in d["spec"]["ports"]}
        for d in docs
        if d["kind"] == "Service"
    }
    for name, job in k8s.items():
        targets = [
            (host, int(port))
            for static in job.get("static_configs", [])
            for host, port in (t.split(":") for t in static["targets"])
        ] + [(n, sd["port"]) for sd in job.get("dns_sd_configs", []) for n in sd["names"]]
        assert targets, name
        for host, port in targets:
            if host != "localhost":
                assert port in services.get(host, set()), f"{name}: {host}:{port}"
    (worker,) = k8s["worker"]["dns_sd_configs"]
    assert find(docs, "Service", worker["names"][0])["spec"]["clusterIP"] == "None"
    assert k8s["broker"]["static_configs"] == [{"targets": ["broker-exporter:9121"]}]


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
