"""Secrets: each process its own, as files, the ones compose gives it and no other."""

from __future__ import annotations

import posixpath

import pytest

from tests.k8s.compose_file import MIRRORED, compose, compose_service
from tests.k8s.manifests import (
    WORKLOAD_KINDS,
    containers,
    find,
    secret_files,
    secret_files_read,
    secret_keys,
)

pytestmark = pytest.mark.unit


# Compose's secrets the Kubernetes version has no use for, and why.
SECRETS_NOT_IN_K8S = {
    "alert_webhook_url": "no Alertmanager in the Kubernetes version",
    **dict.fromkeys(
        ("prometheus_password", "prometheus_web", "prometheus_tls_cert", "prometheus_tls_key"),
        "Prometheus is a ClusterIP Service, never published",
    ),
    "grafana_admin_password": "no Grafana in the Kubernetes version",
    **dict.fromkeys(
        ("backup_s3_credentials", "backup_age_identity"),
        "no backup service in the Kubernetes version (docs/backups.md)",
    ),
}


def test_the_secrets_are_composes_but_alertmanagers_and_published_prometheuss(overlay, kv):
    _, docs = overlay
    keys = set(find(docs, "Secret", "app-secrets")["data"])
    assert keys == set(compose()["secrets"]) - set(SECRETS_NOT_IN_K8S)
    assert keys == set(kv.SECRET_FILES)


@pytest.mark.parametrize("service", MIRRORED)
def test_each_process_mounts_the_secrets_compose_gives_it_and_no_other(overlay, service):
    _, docs = overlay
    assert secret_keys(docs, service) == set(compose_service(service).get("secrets") or [])
    assert {posixpath.dirname(path) for path in secret_files(docs, service)} <= {"/run/secrets"}


def test_no_other_container_mounts_app_secrets(overlay):
    _, docs = overlay
    others = set(containers(docs)) - set(MIRRORED)
    assert {name for name in others if secret_keys(docs, name)} == set()
    assert {name for name in containers(docs) if secret_keys(docs, name, "nginx-tls")} == {"nginx"}


def test_only_postgres_and_db_setup_hold_the_superusers_password(overlay):
    _, docs = overlay
    holders = {n for n in containers(docs) if "postgres_password" in secret_keys(docs, n)}
    assert holders == {"postgres", "db-setup"}
    assert not secret_keys(docs, "app") & {"postgres_password", "db_owner_password"}


@pytest.mark.parametrize("service", MIRRORED)
def test_every_secret_a_process_reads_is_mounted_and_every_mounted_one_is_read(overlay, service):
    # Read: a *_FILE path, a path in its command, or one the scripts it runs cat.
    _, docs = overlay
    assert secret_files_read(docs, service) == secret_files(docs, service)


def test_secret_files_are_readable_by_their_pod_alone(overlay):
    _, docs = overlay
    for doc in docs:
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        spec = doc["spec"]["template"]["spec"]
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["defaultMode"] == 0o440, doc["metadata"]["name"]
                assert spec["securityContext"]["fsGroup"], doc["metadata"]["name"]


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
    assert found["worker"]["image"] == found["app"]["image"]
    assert found["scheduler"]["image"] == found["app"]["image"]
    assert found["db-setup"]["image"] == found["postgres"]["image"]
    assert found["broker"]["image"] == found["redis"]["image"]
    assert found["broker-exporter"]["image"] == found["redis-exporter"]["image"]
