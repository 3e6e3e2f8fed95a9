"""The rendered overlays keep compose's configuration, topology, least privilege and hardening.

Where compose.yaml states the answer (who gets which secret, who logs in as whom, which scripts
run), the tests read it from compose.yaml, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import ast
import copy
import posixpath
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.conftest import ROOT

pytestmark = pytest.mark.unit

Docs = list[dict[str, Any]]
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")


def find(docs: Docs, kind: str, name: str) -> dict[str, Any]:
    """The object of that kind whose name is `name` or `name-<generated hash>`."""
    pattern = re.compile(rf"^{re.escape(name)}(-[a-z0-9]{{10}})?$")
    matches = [d for d in docs if d["kind"] == kind and pattern.match(d["metadata"]["name"])]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def containers(docs: Docs) -> dict[str, dict[str, Any]]:
    out = {}
    for doc in docs:
        if doc["kind"] in WORKLOAD_KINDS:
            spec = doc["spec"]["template"]["spec"]
            for container in [*spec.get("initContainers", []), *spec["containers"]]:
                out[container["name"]] = container
    return out


def pod_of(docs: Docs, container_name: str) -> dict[str, Any]:
    """The pod spec that runs the container."""
    for doc in docs:
        if doc["kind"] in WORKLOAD_KINDS:
            spec = doc["spec"]["template"]["spec"]
            names = [c["name"] for c in [*spec.get("initContainers", []), *spec["containers"]]]
            if container_name in names:
                return spec
    raise AssertionError(f"no pod runs {container_name}")


def config_map(docs: Docs, name: str) -> dict[str, str]:
    return find(docs, "ConfigMap", name)["data"]


def config_map_by_generated_name(docs: Docs, generated: str) -> dict[str, str]:
    (doc,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == generated]
    return doc["data"]


def env_of(docs: Docs, name: str) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom ConfigMaps, then env
    (literal values with $(VAR) expanded, ConfigMap keys; an optional missing key is unset)."""
    container = containers(docs)[name]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_map_by_generated_name(docs, source["configMapRef"]["name"]))
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = re.sub(
                r"\$\(([A-Za-z0-9_]+)\)", lambda m: env.get(m[1], m[0]), entry["value"]
            )
            continue
        ref = entry["valueFrom"]["configMapKeyRef"]
        data = config_map_by_generated_name(docs, ref["name"])
        if ref["key"] in data:
            env[entry["name"]] = data[ref["key"]]
        else:
            assert ref.get("optional"), f"{name}: {ref['name']} has no key {ref['key']}"
    return env


def mounted_volumes(docs: Docs, name: str, kind: str) -> dict[str, dict[str, Any]]:
    """{mountPath: volume source} of the container's volumes of one kind (secret, configMap);
    a StatefulSet's volumeClaimTemplates are none of these."""
    container = containers(docs)[name]
    volumes = {v["name"]: v for v in pod_of(docs, name).get("volumes", [])}
    return {
        m["mountPath"]: volumes[m["name"]][kind]
        for m in container.get("volumeMounts", [])
        if kind in volumes.get(m["name"], {})
    }


def secret_files(docs: Docs, name: str, secret: str = "app-secrets") -> set[str]:
    """Paths of the files of that Secret the container can read."""
    return {
        f"{path}/{item['path']}"
        for path, source in mounted_volumes(docs, name, "secret").items()
        if re.match(rf"^{secret}(-[a-z0-9]{{10}})?$", source["secretName"])
        for item in source["items"]
    }


def secret_keys(docs: Docs, name: str, secret: str = "app-secrets") -> set[str]:
    return {posixpath.basename(path) for path in secret_files(docs, name, secret)}


def secret_files_read(docs: Docs, name: str) -> set[str]:
    """/run/secrets/* paths the container's process reads: named in its environment or command,
    or in the scripts it runs from a mounted ConfigMap. A script's `${NAME:-default}` reads as
    the container's NAME when it is set, else as the default (redis/healthcheck.sh's
    MONITOR_PASSWORD_FILE: the broker's monitor password, else the cache's)."""
    container = containers(docs)[name]
    env = env_of(docs, name)
    texts = [
        *env.values(),
        *container.get("command", []),
        *container.get("args", []),
    ]
    for path, source in mounted_volumes(docs, name, "configMap").items():
        if any(path in part for part in container.get("command", [])):
            for script in config_map_by_generated_name(docs, source["name"]).values():
                texts.append(
                    re.sub(
                        r"\$\{([A-Za-z0-9_]+):-([^}]*)\}",
                        lambda m: env.get(m[1], m[2]),
                        script,
                    )
                )
    return set(re.findall(r"/run/secrets/[a-z0-9_]+", "\n".join(texts)))


def policy(docs: Docs, name: str) -> dict[str, Any]:
    return find(docs, "NetworkPolicy", name)["spec"]


def sources(rule: dict[str, Any]) -> set[str]:
    return {
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for peer in rule.get("from", [])
        if "podSelector" in peer and "namespaceSelector" not in peer
    }


# compose.yaml, the reference. `${NAME:-default}` reads as its default: the k8s base is the
# stack with no .env.
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def compose_default(value: str) -> str:
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(value))


def compose_service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def compose_networks(name: str) -> set[str]:
    """The networks a compose service is on (its `networks:` is a list or a mapping)."""
    return set(compose_service(name).get("networks") or [])


def compose_seconds(value: str) -> int:
    """A compose duration (`60s`, `1m30s`) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([hms])", value)
    assert parts and "".join(n + u for n, u in parts) == value, value
    return sum(int(n) * units[u] for n, u in parts)


# The compose services whose k8s counterpart is a container of the same name.
MIRRORED = (
    "app",
    "worker",
    "scheduler",
    "migrate",
    "db-setup",
    "postgres",
    "redis",
    "broker",
    "postgres-exporter",
    "redis-exporter",
    "broker-exporter",
)
# Where k8s differs from compose on purpose, and why.
ENV_DIFFERENCES = {
    "TRUSTED_PROXIES": "NetworkPolicies decide who reaches the app; app/proxy.py trusts every "
    "peer when it is unset",
    "GOMAXPROCS": "a Go runtime setting of compose's exporters, not carried over",
}
SECRETS_NOT_IN_K8S = {
    "alert_webhook_url": "no Alertmanager in the Kubernetes version",
    "prometheus_password": "Prometheus is a ClusterIP Service, never published",
    "prometheus_web": "Prometheus is a ClusterIP Service, never published",
    "prometheus_tls_cert": "Prometheus is a ClusterIP Service, never published",
    "prometheus_tls_key": "Prometheus is a ClusterIP Service, never published",
    "grafana_admin_password": "no Grafana in the Kubernetes version",
    "backup_s3_credentials": "no backup service in the Kubernetes version (docs/backups.md)",
    "backup_age_identity": "no backup service in the Kubernetes version (docs/backups.md)",
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
    env = config_map(docs, "app-env")
    assert set(env) == {
        "SECRET_KEY_FILE",
        "SENTRY_DSN_FILE",
        "POSTGRES_HOST",
        "POSTGRES_PASSWORD_FILE",
        "REDIS_URL",
        "REDIS_USER",
        "REDIS_PASSWORD_FILE",
        "JOBS_BROKER_URL",
        "BROKER_USER",
        "BROKER_PASSWORD_FILE",
    }
    # The version is the image's own (app/version.py): nothing in the render may override it.
    for container in containers(docs).values():
        names = {e["name"] for e in container.get("env", [])}
        assert "APP_VERSION" not in names, container["name"]
    config_maps = [d for d in docs if d["kind"] == "ConfigMap"]
    assert not any("APP_VERSION" in str(d.get("data", {})) for d in config_maps)


@pytest.mark.parametrize("service", MIRRORED)
def test_each_process_gets_the_environment_compose_gives_it(overlay, service):
    # Who logs in as whom (app_user, app_owner, app_monitor, the superuser; Redis's app and
    # monitor), the database's name, the cache prefix Redis's ACL confines the app to, and
    # every *_FILE path: as compose.yaml with no .env, apart from ENV_DIFFERENCES.
    _, docs = overlay
    expected = {
        key: compose_default(value)
        for key, value in (compose_service(service).get("environment") or {}).items()
        if key not in ENV_DIFFERENCES
    }
    env = env_of(docs, service)
    assert {key: env.get(key) for key in expected} == expected
    assert "TRUSTED_PROXIES" not in env, service


def test_the_scheduler_gets_the_brokers_settings_alone(overlay):
    # Celery beat only publishes: no database, cache or secret key, as in compose.
    _, docs = overlay
    env = env_of(docs, "scheduler")
    assert env == {
        key: compose_default(value)
        for key, value in compose_service("scheduler")["environment"].items()
    }
    assert not containers(docs)["scheduler"].get("envFrom")


def test_the_roles_are_composes(overlay):
    _, docs = overlay
    roles = compose()["x-db-roles"]
    assert set(roles) == {"DB_OWNER", "DB_APP_USER", "DB_MONITOR_USER"}
    assert {k: env_of(docs, "db-setup")[k] for k in roles} == roles
    # Four distinct logins: the superuser initialises, each role does one job.
    logins = {
        env_of(docs, "postgres")["POSTGRES_USER"],
        env_of(docs, "migrate")["POSTGRES_USER"],
        env_of(docs, "app")["POSTGRES_USER"],
        env_of(docs, "postgres-exporter")["DATA_SOURCE_USER"],
    }
    assert logins == {"postgres", *roles.values()}
    databases = {env_of(docs, name)["POSTGRES_DB"] for name in ("postgres", "db-setup", "migrate")}
    assert databases == {env_of(docs, "app")["POSTGRES_DB"]}
    assert env_of(docs, "postgres-exporter")["DATA_SOURCE_URI"].startswith(
        f"postgres:5432/{env_of(docs, 'app')['POSTGRES_DB']}?"
    )


def test_the_cache_prefix_is_the_one_redis_confines_the_app_to(overlay):
    _, docs = overlay
    prefix = env_of(docs, "app")["CACHE_KEY_PREFIX"]
    assert prefix and env_of(docs, "redis")["CACHE_KEY_PREFIX"] == prefix
    assert env_of(docs, "app")["REDIS_USER"] == "app"
    assert env_of(docs, "redis-exporter")["REDIS_USER"] == "monitor"
    # The worker is the app's cache and database client too: the same logins and prefix.
    for key in ("POSTGRES_USER", "REDIS_USER", "CACHE_KEY_PREFIX"):
        assert env_of(docs, "worker")[key] == env_of(docs, "app")[key], key


def _broker_users(script: str) -> dict[str, str]:
    """{ACL user: the secret file its password is hashed from} of redis/broker.sh."""
    return dict(re.findall(r"^user (\w+) on #\$\(hashed (/run/secrets/\w+)\)", script, re.M))


def test_each_broker_client_logs_in_as_its_own_acl_user_with_its_password(overlay):
    # The app and the scheduler publish as `app`, the worker takes as `worker`, the exporter
    # and the probes read as `monitor`: each with the password file the broker hashes for it.
    _, docs = overlay
    script = config_map(docs, "broker-setup")["broker.sh"]
    assert "user default off" in script
    users = _broker_users(script)
    assert set(users) == {"app", "worker", "monitor"}
    for client, user in (("app", "app"), ("scheduler", "app"), ("worker", "worker")):
        env = env_of(docs, client)
        assert env["JOBS_BROKER_URL"] == "redis://broker:6379/0", client
        assert (env["BROKER_USER"], env["BROKER_PASSWORD_FILE"]) == (user, users[user]), client
    exporter = env_of(docs, "broker-exporter")
    assert (exporter["REDIS_ADDR"], exporter["REDIS_USER"]) == ("redis://broker:6379", "monitor")
    assert secret_files_read(docs, "broker-exporter") == {users["monitor"]}
    assert env_of(docs, "broker")["MONITOR_PASSWORD_FILE"] == users["monitor"]


def test_nginx_finds_the_app_through_the_cluster_dns_and_its_certificate(overlay):
    name, docs = overlay
    env = config_map(docs, "nginx-env")
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


def test_nginx_buffers_on_a_volume_of_its_own(overlay):
    # nginx/docker-entrypoint.sh writes /var/cache/nginx: on a read-only root, nginx would not
    # start without it (compose's second tmpfs).
    _, docs = overlay
    nginx = find(docs, "Deployment", "nginx")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in nginx["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in nginx["volumes"]}
    assert "emptyDir" in volumes[mounts["/var/cache/nginx"]]
    assert mounts["/var/cache/nginx"] != mounts["/tmp"]


# --- Secrets: each process its own, as files ------------------------------------------------


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


# --- The scripts compose runs: db-setup, Redis ------------------------------------------------

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


# --- Probes, migration, scaling ---------------------------------------------------------------


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


# --- The background jobs: worker and scheduler ----------------------------------------------


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


# --- Network policies -----------------------------------------------------------------------

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


# --- Prometheus ----------------------------------------------------------------------------


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


# --- Current kustomize syntax -----------------------------------------------------------------


def test_no_kustomization_uses_a_deprecated_field(kv):
    assert len(kv.kustomization_files()) == 1 + len(kv.OVERLAYS)
    assert kv.deprecated_field_problems() == []


def _put_back_bases(tree: Path) -> None:
    """The local overlay of a staged tree naming its base the old way, with `bases:`."""
    local = tree / "overlays/local/kustomization.yaml"
    text = local.read_text()
    assert "resources:\n  - ../../base\n" in text
    local.write_text(text.replace("resources:\n  - ../../base\n", "bases:\n  - ../../base\n"))


@pytest.mark.parametrize("field", ["bases", "patchesStrategicMerge", "commonLabels", "vars"])
def test_a_deprecated_field_is_caught(kv, tmp_path, field):
    tree = kv.stage_tree(tmp_path)
    if field == "bases":
        _put_back_bases(tree)
    else:
        local = tree / "overlays/local/kustomization.yaml"
        local.write_text(local.read_text() + f"{field}: []\n")
    new = kv.DEPRECATED_FIELDS[field]
    assert kv.deprecated_field_problems(tree) == [
        f"overlays/local/kustomization.yaml: `{field}` is deprecated (use `{new}`)"
    ]


def test_a_generators_deprecated_env_is_caught(kv, tmp_path):
    tree = kv.stage_tree(tmp_path)
    base = tree / "base/kustomization.yaml"
    base.write_text(
        base.read_text().replace("  - name: db-env\n", "  - name: db-env\n    env: x\n")
    )
    (problem,) = kv.deprecated_field_problems(tree)
    assert problem.endswith("configMapGenerator db-env: `env` is deprecated (use `envs`)")


def test_a_renderer_warning_fails_the_rendering(kv, tmp_path):
    # kustomize 5 still renders `bases`, with a warning: the warning alone fails the rendering.
    renderer = kv.choose_renderers()[0]
    if not shutil.which(renderer):
        pytest.skip(f"no {renderer} on PATH")
    tree = kv.stage_tree(tmp_path)
    _put_back_bases(tree)
    with pytest.raises(RuntimeError, match="'bases' is deprecated"):
        kv.render("local", renderer, tree)


# --- No committed secrets; the README's instructions ------------------------------------------


def test_no_secret_file_is_tracked(kv):
    tracked = subprocess.run(
        ["git", "ls-files", "deploy/k8s"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    secret_names = {*kv.SECRET_FILES, *kv.TLS_FILES}
    assert not [p for p in tracked if Path(p).name in secret_names]


def test_the_readme_copies_every_file_the_secret_generators_read(overlay, kv):
    # The overlays' secretGenerators read these files; the README's `cp` puts them there.
    _, docs = overlay
    readme = (ROOT / "deploy/k8s/README.md").read_text()
    block = readme[readme.index("for o in local production") :].split("done", 1)[0]
    copied = set(re.findall(r"(?:secrets|certs)/([A-Za-z0-9_.]+)", block))
    assert copied == {*kv.SECRET_FILES, *kv.TLS_FILES}
    assert set(find(docs, "Secret", "app-secrets")["data"]) == set(kv.SECRET_FILES)
