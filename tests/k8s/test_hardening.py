"""Every container and pod is hardened as compose hardens it, and the hardening check catches
each way a manifest can fall short."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.k8s.manifests import WORKLOAD_KINDS, Docs, containers, find

pytestmark = pytest.mark.unit


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
        if doc["kind"] in WORKLOAD_KINDS:
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
    "secret-in-env": lambda c: c["env"].append(
        {"name": "SECRET_KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    ),
    "secret-envfrom": lambda c: c["envFrom"].append({"secretRef": {"name": "app-secrets"}}),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_manifest_is_caught(rendered, kv, breakage):
    docs = copy.deepcopy(rendered["production"])
    BREAKAGES[breakage](containers(docs)["app"])
    problems = kv.hardening_problems(docs)
    assert problems, f"{breakage} not caught"
    assert all("Deployment/app/app" in p for p in problems), problems


def _secrets_volume(docs: Docs) -> dict[str, Any]:
    spec = find(docs, "Deployment", "app")["spec"]["template"]["spec"]
    return next(v for v in spec["volumes"] if v["name"] == "secrets")["secret"]


SECRET_BREAKAGES = {
    "every-key": lambda docs: _secrets_volume(docs).pop("items"),
    "world-readable": lambda docs: _secrets_volume(docs).update(defaultMode=0o444),
    "item-world-readable": lambda docs: _secrets_volume(docs)["items"][0].update(mode=0o644),
    "no-fsgroup": lambda docs: find(docs, "Deployment", "app")["spec"]["template"]["spec"][
        "securityContext"
    ].pop("fsGroup"),
}


@pytest.mark.parametrize("breakage", sorted(SECRET_BREAKAGES))
def test_a_secret_mounted_too_widely_is_caught(rendered, kv, breakage):
    docs = copy.deepcopy(rendered["production"])
    SECRET_BREAKAGES[breakage](docs)
    problems = kv.hardening_problems(docs)
    assert any("Deployment/app: secret volume secrets" in p for p in problems), problems


def test_a_pod_level_regression_is_caught(rendered, kv):
    docs = copy.deepcopy(rendered["local"])
    spec = find(docs, "StatefulSet", "postgres")["spec"]["template"]["spec"]
    spec["automountServiceAccountToken"] = True
    spec["hostNetwork"] = True
    problems = kv.hardening_problems(docs)
    assert any("automountServiceAccountToken" in p for p in problems)
    assert any("hostNetwork" in p for p in problems)
