"""Step 4 of `make k8s-validate` (k8s_validate.py), our own hardening check: every container
of every pod template as compose hardens it, and every Secret it reads as files only, only the
keys listed, no mode bits for others."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# The fixed UID of each container, as in compose.yaml and the images.
EXPECTED_UIDS = {
    "app": 10001,
    "migrate": 10001,
    "db-setup": 999,
    "assets": 10001,
    "nginx": 101,
    "nginx-exporter": 65534,
    "postgres": 999,
    "redis": 999,
    "prometheus": 65534,
    "postgres-exporter": 65534,
    "redis-exporter": 59000,
    "worker": 10001,
    "scheduler": 10001,
    "broker": 999,
    "broker-exporter": 59000,
}
POD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet")
# Directories a container writes to: each must be a mounted volume (the root is read-only).
WRITABLE_PATHS = {
    "app": ["/tmp"],
    "migrate": [],
    "db-setup": [],
    "assets": ["/srv/static"],
    "nginx": ["/tmp", "/var/cache/nginx"],
    "postgres": ["/tmp", "/var/run/postgresql", "/var/lib/postgresql/data"],
    "redis": ["/tmp", "/data"],
    "prometheus": ["/prometheus"],
    # PROMETHEUS_MULTIPROC_DIR (/tmp/prometheus); beat's schedule file; the append-only file.
    "worker": ["/tmp"],
    "scheduler": ["/tmp"],
    "broker": ["/tmp", "/data"],
}


def pod_templates(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        if doc.get("kind") in POD_KINDS:
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]
        elif doc.get("kind") == "CronJob":
            yield (
                f"CronJob/{doc['metadata']['name']}",
                doc["spec"]["jobTemplate"]["spec"]["template"],
            )
        elif doc.get("kind") == "Pod":
            yield f"Pod/{doc['metadata']['name']}", doc


def _quantity_set(resources: dict[str, Any], section: str, name: str) -> bool:
    return bool((resources.get(section) or {}).get(name))


def hardening_problems(docs: list[dict[str, Any]]) -> list[str]:
    """Every way a rendered manifest falls short of compose's hardening, one line each."""
    problems: list[str] = []
    for where, template in pod_templates(docs):
        spec = template.get("spec", {})
        pod_sc = spec.get("securityContext") or {}
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: automountServiceAccountToken is not false")
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(flag):
                problems.append(f"{where}: {flag} is set")
        if pod_sc.get("runAsNonRoot") is not True:
            problems.append(f"{where}: pod securityContext.runAsNonRoot is not true")
        if (pod_sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: pod seccompProfile is not RuntimeDefault")
        for volume in spec.get("volumes") or []:
            if "hostPath" in volume:
                problems.append(f"{where}: volume {volume['name']} is a hostPath")
            if "secret" in volume:
                problems.extend(_secret_volume_problems(where, volume, pod_sc))
        containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        for container in containers:
            problems.extend(_container_problems(f"{where}/{container['name']}", container, pod_sc))
    return problems


def _secret_volume_problems(
    where: str, volume: dict[str, Any], pod_sc: dict[str, Any]
) -> list[str]:
    """A Secret reaches a pod as files it alone can read, and only the keys it uses.

    The kubelet writes the files as root with the pod's fsGroup as their group (and adds group
    read), so 0440 under an fsGroup is the closest Kubernetes comes to compose's 0400 files
    owned by the one user that reads them."""
    problems = []
    secret = volume["secret"]
    name = f"{where}: secret volume {volume['name']}"
    if not secret.get("items"):
        problems.append(f"{name} mounts every key of {secret.get('secretName')} (list items)")
    modes = [secret.get("defaultMode", 0o644)]
    modes += [item["mode"] for item in secret.get("items") or [] if "mode" in item]
    if any(mode & 0o007 for mode in modes):
        problems.append(f"{name}: mode {oct(max(modes))} lets other users read the files")
    if pod_sc.get("fsGroup") is None:
        problems.append(f"{name}: no pod fsGroup, so only root could read 0440 files")
    return problems


def _container_problems(where: str, container: dict[str, Any], pod_sc: dict[str, Any]) -> list[str]:
    problems = []
    sc = container.get("securityContext") or {}
    name = container["name"]
    if sc.get("privileged"):
        problems.append(f"{where}: privileged")
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: allowPrivilegeEscalation is not false")
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{where}: readOnlyRootFilesystem is not true")
    if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
        problems.append(f"{where}: runAsNonRoot is not true")
    uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
    expected = EXPECTED_UIDS.get(name)
    if uid is None or uid == 0:
        problems.append(f"{where}: no fixed non-root runAsUser")
    elif expected is not None and uid != expected:
        problems.append(f"{where}: runAsUser {uid}, expected {expected}")
    capabilities = sc.get("capabilities") or {}
    if [c.upper() for c in capabilities.get("drop") or []] != ["ALL"]:
        problems.append(f"{where}: capabilities.drop is not [ALL]")
    if capabilities.get("add"):
        problems.append(f"{where}: capabilities.add is {capabilities['add']}")
    seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    if seccomp != "RuntimeDefault":
        problems.append(f"{where}: seccompProfile is not RuntimeDefault")
    resources = container.get("resources") or {}
    for section in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if not _quantity_set(resources, section, resource):
                problems.append(f"{where}: no {section}.{resource}")
    image = container.get("image", "")
    if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
        problems.append(f"{where}: image {image!r} has no fixed tag")
    mounts = {m["mountPath"] for m in container.get("volumeMounts") or []}
    for path in WRITABLE_PATHS.get(name, []):
        if path not in mounts:
            problems.append(f"{where}: {path} is not a mounted volume (the root is read-only)")
    for port in container.get("ports") or []:
        if port.get("hostPort"):
            problems.append(f"{where}: hostPort {port['hostPort']}")
    # Secrets are files (/run/secrets), never environment variables.
    if any("secretKeyRef" in (e.get("valueFrom") or {}) for e in container.get("env") or []):
        problems.append(f"{where}: a secret in an environment variable (secretKeyRef)")
    if any("secretRef" in source for source in container.get("envFrom") or []):
        problems.append(f"{where}: secrets in environment variables (envFrom secretRef)")
    return problems
