"""Network policies: default deny, and exactly compose's flows between the pods and out."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.k8s.compose_file import compose, compose_networks
from tests.k8s.manifests import WORKLOAD_KINDS, Docs, find

pytestmark = pytest.mark.unit


def policy(docs: Docs, name: str) -> dict[str, Any]:
    return find(docs, "NetworkPolicy", name)["spec"]


def sources(rule: dict[str, Any]) -> set[str]:
    return {
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for peer in rule.get("from", [])
        if "podSelector" in peer and "namespaceSelector" not in peer
    }


# compose.yaml's flows, one per (client, server, port): web (nginx -> app), metrics (Prometheus
# -> the app's and the worker's metrics ports and the exporters; nginx's exporter is a sidecar
# here, so Prometheus scrapes the nginx pod), backend (the app, the worker, the migrations and
# the exporters -> the data services), queue (the app, the worker, the scheduler and the
# broker's exporter -> the broker). Each is checked to be on a network compose gives both ends.
EXPECTED_FLOWS = {
    ("nginx", "app", 8000),
    ("prometheus", "app", 9100),
    ("prometheus", "worker", 9100),
    ("prometheus", "nginx", 9113),
    ("prometheus", "postgres-exporter", 9187),
    ("prometheus", "redis-exporter", 9121),
    ("prometheus", "broker-exporter", 9121),
    ("app", "postgres", 5432),
    ("app", "redis", 6379),
    ("app", "broker", 6379),
    ("worker", "postgres", 5432),
    ("worker", "redis", 6379),
    ("worker", "broker", 6379),
    ("scheduler", "broker", 6379),
    ("migrate", "postgres", 5432),
    ("postgres-exporter", "postgres", 5432),
    ("redis-exporter", "redis", 6379),
    ("broker-exporter", "broker", 6379),
}
# The compose services a pod runs, where they are not just its own name.
POD_SERVICES = {
    "nginx": {"nginx", "nginx-exporter"},
    "migrate": {"migrate", "db-setup"},
}


def compose_services_of(pod: str) -> set[str]:
    return POD_SERVICES.get(pod, {pod})


def workload_names(docs: Docs) -> set[str]:
    return {
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        for d in docs
        if d["kind"] in WORKLOAD_KINDS
    }


def allowed(docs: Docs, direction: str) -> set[tuple[str, str, Any]]:
    """(client, server, port) of the namespace's pods that the policies allow on one side:
    `ingress` as the server admits it, `egress` as the client may send it. Peers outside the
    namespace read as "*" (anyone), "ipBlock" or "namespace:<labels>"."""
    flows = set()
    every = workload_names(docs)
    for doc in docs:
        if doc["kind"] != "NetworkPolicy":
            continue
        spec = doc["spec"]
        label = spec["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        selected = {label} if label else every
        for rule in spec.get(direction, []):
            peers = rule.get("from" if direction == "ingress" else "to")
            names: set[str] = set()
            for peer in peers or [{}]:
                if "ipBlock" in peer:
                    names.add("ipBlock")
                elif "namespaceSelector" in peer:
                    names.add(f"namespace:{peer['namespaceSelector'].get('matchLabels', {})}")
                elif "podSelector" in peer:
                    names.add(peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
                else:
                    names.add("*")
            for port in rule.get("ports") or [{"port": "any"}]:
                for own in selected:
                    for other in names:
                        pair = (other, own) if direction == "ingress" else (own, other)
                        flows.add((*pair, port["port"]))
    return flows


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


def test_flows_between_the_pods_are_composes_and_no_other(overlay):
    _, docs = overlay
    pods = workload_names(docs)
    inside = {(a, b, p) for a, b, p in allowed(docs, "ingress") if a in pods and b in pods}
    assert inside == EXPECTED_FLOWS, "ingress"
    inside = {(a, b, p) for a, b, p in allowed(docs, "egress") if a in pods and b in pods}
    assert inside == EXPECTED_FLOWS, "egress"


def test_each_flow_is_on_a_network_compose_gives_both_ends():
    # EXPECTED_FLOWS is written by hand: each of its flows must be one compose allows.
    for client, server, port in EXPECTED_FLOWS:
        shared = {
            network
            for a in compose_services_of(client)
            for b in compose_services_of(server)
            for network in compose_networks(a) & compose_networks(b)
        }
        assert shared, f"{client} -> {server}:{port}: no compose network in common"


def test_the_broker_admits_the_queue_network_and_no_other(overlay):
    # compose's `queue` is internal and the broker's only network: its clients are exactly
    # the other services on it.
    _, docs = overlay
    queue = {name for name in compose()["services"] if "queue" in compose_networks(name)}
    assert compose()["networks"]["queue"]["internal"] is True
    assert compose_networks("broker") == {"queue"}
    clients = {a for a, b, _ in EXPECTED_FLOWS if b == "broker"}
    assert clients == queue - {"broker"}
    assert {a for a, b, _ in allowed(docs, "ingress") if b == "broker"} == clients
    assert {b for a, b, _ in allowed(docs, "egress") if a == "broker"} == {"namespace:{}"}
    # The scheduler is on `queue` alone: it reaches the broker and nothing else.
    assert compose_networks("scheduler") == {"queue"}
    assert {(b, p) for a, b, p in allowed(docs, "egress") if a == "scheduler"} == {
        ("broker", 6379),
        ("namespace:{}", 53),
    }


# The pods on compose's `egress` network, its route out (Sentry, the outside APIs a fork calls).
ROUTED_OUT = {"app", "worker"}


def test_nothing_but_the_app_and_the_worker_has_a_route_out_and_only_to_public_https(overlay):
    # compose's scheduler, jobs, data services and exporters are on internal networks only;
    # the app and the worker share the `egress` network.
    _, docs = overlay
    on_egress = {name for name in compose()["services"] if "egress" in compose_networks(name)}
    assert on_egress == ROUTED_OUT
    pods = workload_names(docs)
    out = {(a, b, p) for a, b, p in allowed(docs, "egress") if b not in pods}
    assert out == {(pod, "namespace:{}", 53) for pod in pods} | {
        (pod, "ipBlock", 443) for pod in ROUTED_OUT
    }
    for pod in ROUTED_OUT:
        (block,) = [
            peer["ipBlock"]
            for rule in policy(docs, pod)["egress"]
            for peer in rule.get("to", [])
            if "ipBlock" in peer
        ]
        assert block["cidr"] == "0.0.0.0/0", pod
        assert set(block["except"]) >= {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}, pod
    assert policy(docs, "allow-dns")["egress"][0]["to"][0]["podSelector"]["matchLabels"] == {
        "k8s-app": "kube-dns"
    }


def test_only_metrics_ports_admit_another_namespaces_prometheus(overlay):
    _, docs = overlay
    pods = workload_names(docs)
    external = {(a, b, p) for a, b, p in allowed(docs, "ingress") if a not in pods}
    scrape = "namespace:{'flask-stack/scrape': 'true'}"
    assert external == {
        ("*", "nginx", 8080),
        ("*", "nginx", 8443),
        (scrape, "nginx", 9113),
        (scrape, "app", 9100),
        (scrape, "worker", 9100),
        (scrape, "postgres-exporter", 9187),
        (scrape, "redis-exporter", 9121),
        (scrape, "broker-exporter", 9121),
    }


def test_the_flow_check_sees_a_widened_policy(rendered):
    docs = copy.deepcopy(rendered["local"])
    policy(docs, "redis")["ingress"][0]["from"].append(
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "nginx"}}}
    )
    policy(docs, "app")["egress"].append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]})
    assert ("nginx", "redis", 6379) in allowed(docs, "ingress")
    assert ("app", "ipBlock", "any") in allowed(docs, "egress")


def test_every_workload_has_its_own_policy(overlay):
    _, docs = overlay
    selected = {
        d["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        for d in docs
        if d["kind"] == "NetworkPolicy"
    }
    assert workload_names(docs) <= selected
