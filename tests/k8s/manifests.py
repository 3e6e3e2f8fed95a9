"""Queries on the rendered manifests for tests/k8s: an object by kind and name, each container
and the pod that runs it, a container's environment as the kubelet builds it, its mounted
volumes, and the secret files it mounts and reads."""

from __future__ import annotations

import posixpath
import re
from typing import Any

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
