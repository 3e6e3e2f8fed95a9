"""The scripts compose runs (db-setup, Redis, the broker): the same files, mounted where compose
mounts them, run and probed as compose runs them."""

from __future__ import annotations

import posixpath
import re

import pytest

from tests.k8s.compose_file import compose, compose_service
from tests.k8s.conftest import ROOT
from tests.k8s.manifests import (
    config_map,
    config_map_by_generated_name,
    containers,
    env_of,
    find,
    mounted_volumes,
    pod_of,
    secret_files_read,
)

pytestmark = pytest.mark.unit


# Copies kustomize can read (it reads nothing outside deploy/k8s/base), of the files compose
# mounts.
COPIES = {
    "deploy/k8s/base/postgres/roles.sql": "postgres/roles.sql",
    "deploy/k8s/base/postgres/setup.sh": "postgres/setup.sh",
    "deploy/k8s/base/redis/start.sh": "redis/start.sh",
    "deploy/k8s/base/redis/healthcheck.sh": "redis/healthcheck.sh",
    "deploy/k8s/base/redis/broker.sh": "redis/broker.sh",
}


@pytest.mark.parametrize("copy_path", sorted(COPIES))
def test_the_script_copies_are_byte_identical_to_composes(copy_path):
    source = COPIES[copy_path]
    assert (ROOT / copy_path).read_bytes() == (ROOT / source).read_bytes(), (
        f"{copy_path} differs from {source}: cp {source} {copy_path}"
    )


@pytest.mark.parametrize("service", ["db-setup", "redis", "broker"])
def test_the_scripts_compose_mounts_are_mounted_where_compose_mounts_them(overlay, service):
    _, docs = overlay
    configs = compose()["configs"]
    mounted = mounted_volumes(docs, service, "configMap")
    targets = compose_service(service)["configs"]
    assert targets
    for config in targets:
        directory, filename = posixpath.split(config["target"])
        data = config_map_by_generated_name(docs, mounted[directory]["name"])
        source = (ROOT / configs[config["source"]]["file"]).read_text()
        assert data[filename] == source, config["target"]


@pytest.mark.parametrize("service", ["db-setup", "redis", "broker"])
def test_they_run_the_entrypoint_compose_runs(overlay, service):
    _, docs = overlay
    assert containers(docs)[service]["command"] == compose_service(service)["entrypoint"]
    assert not containers(docs)[service].get("args")


def test_redis_runs_with_the_default_user_off_and_probes_as_monitor(overlay):
    _, docs = overlay
    redis = containers(docs)["redis"]
    script = config_map(docs, "redis-setup")["start.sh"]
    assert "user default off" in script and "requirepass" not in script
    healthcheck = compose_service("redis")["healthcheck"]["test"]
    assert healthcheck[0] == "CMD"
    for probe in ("readinessProbe", "livenessProbe"):
        assert redis[probe]["exec"]["command"] == healthcheck[1:]
    assert "--user monitor" in config_map(docs, "redis-setup")["healthcheck.sh"]


@pytest.mark.parametrize("service", ["redis-exporter", "broker-exporter"])
def test_the_redis_exporters_run_composes_entrypoint(overlay, service):
    # The same string in both: `$$` escapes a `$` in compose and in Kubernetes alike.
    _, docs = overlay
    command = containers(docs)[service]["command"]
    assert command == compose_service(service)["entrypoint"]


def test_the_broker_is_durable_on_a_claim_of_its_own(overlay):
    # compose's broker_data volume: the append-only file on a PersistentVolumeClaim, fsynced
    # on every write, never evicting; the cache's /data stays an emptyDir.
    _, docs = overlay
    broker = find(docs, "StatefulSet", "broker")["spec"]
    (claim,) = broker["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    container = containers(docs)["broker"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/data"] == claim["metadata"]["name"]
    assert claim["metadata"]["name"] not in {v["name"] for v in pod_of(docs, "broker")["volumes"]}
    # compose mounts a named volume (kept across restarts) there, not a tmpfs.
    (volume,) = [v.split(":")[0] for v in compose_service("broker")["volumes"] if ":/data" in v]
    assert volume in compose()["volumes"]
    assert container["command"] == ["/bin/sh", "/etc/redis-setup/broker.sh"]
    script = config_map(docs, "broker-setup")["broker.sh"]
    for line in (
        "dir /data",
        "appendonly yes",
        "appendfsync always",
        "maxmemory-policy noeviction",
    ):
        assert re.search(rf"^{line}$", script, re.M), line
    redis = find(docs, "StatefulSet", "redis")["spec"]
    assert not redis.get("volumeClaimTemplates")


def test_the_broker_probes_as_its_own_monitor(overlay):
    _, docs = overlay
    broker = containers(docs)["broker"]
    healthcheck = compose_service("broker")["healthcheck"]["test"]
    assert healthcheck[0] == "CMD"
    for probe in ("readinessProbe", "livenessProbe"):
        assert broker[probe]["exec"]["command"] == healthcheck[1:]
    script = config_map(docs, "broker-setup")["healthcheck.sh"]
    assert "--user monitor" in script and "MONITOR_PASSWORD_FILE" in script
    assert secret_files_read(docs, "broker") >= {env_of(docs, "broker")["MONITOR_PASSWORD_FILE"]}
    # The cache's pod sees no broker script, the broker's no cache script.
    assert "broker.sh" not in config_map(docs, "redis-setup")
    assert "start.sh" not in config_map(docs, "broker-setup")
