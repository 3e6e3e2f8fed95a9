"""Render the kustomize overlays and check them offline: schemas, hardening, checkov.

Run by `make k8s-validate` (from the deploy/k8s/.venv virtualenv) and imported by tests/k8s.

0. No kustomization uses a field kustomize 5 deprecates (DEPRECATED_FIELDS): the manifests keep
   to current syntax, and a renderer's warning fails the rendering too.
1. The deploy/k8s/ tree is copied to a temporary directory and placeholder secret files (random
   values, a dummy PEM) are written into each overlay's secrets/ there: the work tree is never
   touched and no real secret is read.
2. Each overlay is rendered by one or more renderers:
     kubectl  `kubectl kustomize` with the kubectl on PATH (whatever version it is)
     docker   `kustomize build` with kustomize 5 from Debian 13's kustomize package, in the
              tools image built from deploy/k8s/Dockerfile.tools (no kubectl needed)
   K8S_RENDERER selects: `auto` (default: kubectl if on PATH, else docker), `kubectl`, `docker`
   or `all` (both, and their outputs must agree apart from generated-name hashes).
3. Every rendered object is validated against the Kubernetes JSON schemas of
   KUBERNETES_VERSION in strict mode (kubernetes-validate, which ships the schemas).
4. Our own hardening check (hardening_problems): every container of every pod template, and
   every Secret it reads (files only, only the keys listed, no mode bits for others).
5. checkov on the rendered manifests, all Kubernetes checks but CHECKOV_SKIPS.

Exit status 0 only when every step passed for every overlay and renderer.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

K8S_DIR = Path(__file__).resolve().parents[1]
OVERLAYS = ("local", "production")
KUBERNETES_VERSION = "1.30.0"
TOOLS_IMAGE = os.environ.get("K8S_TOOLS_IMAGE", "flask-stack-k8s-tools:local")
# The keys of the Secret app-secrets: compose's secrets but alert_webhook_url (no Alertmanager
# here) and prometheus_* (Prometheus is ClusterIP only, never published).
SECRET_FILES = (
    "secret_key",
    "sentry_dsn",
    "postgres_password",
    "db_owner_password",
    "db_app_password",
    "db_monitor_password",
    "redis_app_password",
    "redis_monitor_password",
    "broker_app_password",
    "broker_worker_password",
    "broker_monitor_password",
)
TLS_FILES = ("fullchain.pem", "privkey.pem")

# Checks skipped, each with the reason. Every other checkov Kubernetes check is enforced.
CHECKOV_SKIPS: dict[str, str] = {
    "CKV_K8S_15": "imagePullPolicy Always: the local overlay runs images loaded into the "
    "cluster, which Always would try to pull; the images carry fixed tags instead",
    "CKV_K8S_40": "UID above 10000: the UIDs are the images' own users, as in compose "
    "(nginx 101, postgres/redis 999); hardening_problems pins every container's UID",
    "CKV_K8S_43": "image digests: the overlays set tags; pinning digests is a release step "
    "(deploy/k8s/README.md)",
}
# Checks that must have run and passed on every overlay: if checkov stops evaluating one of
# these (renamed, or the manifests changed shape), validation fails rather than passing vacuously.
CHECKOV_REQUIRED = (
    "CKV_K8S_8",  # liveness probe
    "CKV_K8S_9",  # readiness probe
    "CKV_K8S_10",  # CPU requests
    "CKV_K8S_11",  # CPU limits
    "CKV_K8S_12",  # memory requests
    "CKV_K8S_13",  # memory limits
    "CKV_K8S_14",  # image tag fixed, not latest
    "CKV_K8S_16",  # not privileged
    "CKV_K8S_17",  # no hostPID
    "CKV_K8S_18",  # no hostIPC
    "CKV_K8S_19",  # no hostNetwork
    "CKV_K8S_20",  # allowPrivilegeEscalation false
    "CKV_K8S_22",  # readOnlyRootFilesystem
    "CKV_K8S_23",  # non-root
    "CKV_K8S_25",  # no added capabilities
    "CKV_K8S_28",  # NET_RAW dropped
    "CKV_K8S_29",  # pod securityContext
    "CKV_K8S_30",  # container securityContext
    "CKV_K8S_31",  # seccomp RuntimeDefault
    "CKV_K8S_37",  # capabilities minimised (drop ALL)
    "CKV_K8S_38",  # service account token not mounted
    "CKV_K8S_35",  # secrets as files, not environment variables
    "CKV_K8S_39",  # no SYS_ADMIN
    "CKV2_K8S_6",  # every pod is selected by a NetworkPolicy
)

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

# The kustomization fields kustomize 5 deprecates (api/types/kustomization.go), each with the
# field that replaces it: it warns on every build that reads one, and `kustomize edit fix`
# rewrites them.
DEPRECATED_FIELDS = {
    "bases": "resources",
    "commonLabels": "labels",
    "imageTags": "images",
    "patchesJson6902": "patches",
    "patchesStrategicMerge": "patches",
    "vars": "replacements",
    "helmChartInflationGenerator": "helmCharts",
}
# In a configMapGenerator or secretGenerator entry.
DEPRECATED_GENERATOR_FIELDS = {"env": "envs"}
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# What kustomize prints before a warning (a deprecated field, among others) on stderr.
_KUSTOMIZE_WARNING = re.compile(r"^# Warning:", re.MULTILINE)

_HASH_SUFFIX = re.compile(r"-[a-z0-9]{10}\b")
_PEM = (
    "-----BEGIN {kind}-----\n"
    "cGxhY2Vob2xkZXIgZm9yIG9mZmxpbmUgdmFsaWRhdGlvbiBvbmx5\n"
    "-----END {kind}-----\n"
)


# --- Current kustomize syntax ---------------------------------------------------------------


def kustomization_files(root: Path = K8S_DIR) -> list[Path]:
    """Every kustomization under root, hidden directories (.venv, .rendered) left out."""
    found = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        found.extend(Path(directory) / name for name in KUSTOMIZATION_NAMES if name in files)
    return found


def deprecated_field_problems(root: Path = K8S_DIR) -> list[str]:
    """Each deprecated field a kustomization under root uses, one line each."""
    files = kustomization_files(root)
    if not files:
        return [f"no kustomization under {root}"]
    problems = []
    for path in files:
        where = path.relative_to(root).as_posix()
        doc = yaml.safe_load(path.read_text()) or {}
        problems.extend(
            f"{where}: `{field}` is deprecated (use `{new}`)"
            for field, new in DEPRECATED_FIELDS.items()
            if field in doc
        )
        for generator in ("configMapGenerator", "secretGenerator"):
            for entry in doc.get(generator) or []:
                problems.extend(
                    f"{where}: {generator} {entry.get('name')}: `{field}` is deprecated "
                    f"(use `{new}`)"
                    for field, new in DEPRECATED_GENERATOR_FIELDS.items()
                    if field in entry
                )
    return problems


# --- Staging and rendering ---------------------------------------------------------------------


def stage_tree(destination: Path) -> Path:
    """Copy deploy/k8s/ to destination with placeholder secret files in each overlay's secrets/."""
    target = destination / "k8s"
    shutil.copytree(
        K8S_DIR,
        target,
        ignore=shutil.ignore_patterns(".rendered", ".venv", "__pycache__", "*.pem", *SECRET_FILES),
    )
    for overlay in OVERLAYS:
        secret_dir = target / "overlays" / overlay / "secrets"
        secret_dir.mkdir(parents=True, exist_ok=True)
        for name in SECRET_FILES:
            (secret_dir / name).write_text(secrets.token_urlsafe(48) + "\n")
        (secret_dir / "fullchain.pem").write_text(_PEM.format(kind="CERTIFICATE"))
        (secret_dir / "privkey.pem").write_text(_PEM.format(kind="PRIVATE KEY"))
    return target


def docker_available() -> bool:
    return shutil.which("docker") is not None


def choose_renderers(choice: str | None = None) -> list[str]:
    choice = (choice or os.environ.get("K8S_RENDERER") or "auto").lower()
    if choice == "auto":
        return ["kubectl"] if shutil.which("kubectl") else ["docker"]
    if choice == "all":
        return ["kubectl", "docker"]
    if choice not in ("kubectl", "docker"):
        raise SystemExit(f"K8S_RENDERER must be auto, kubectl, docker or all, got {choice!r}")
    return [choice]


def render(overlay: str, renderer: str, tree: Path) -> str:
    """Render one overlay of a staged tree; return the multi-document YAML."""
    if renderer == "kubectl":
        command = ["kubectl", "kustomize", str(tree / "overlays" / overlay)]
    else:
        command = [
            "docker", "run", "--rm", "--network", "none",
            "--user", f"{os.getuid()}:{os.getgid()}",
            "-v", f"{tree}:/k8s:ro",
            TOOLS_IMAGE, "kustomize", "build", f"/k8s/overlays/{overlay}",
        ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{renderer}: rendering {overlay} failed:\n{result.stderr.strip()}")
    if _KUSTOMIZE_WARNING.search(result.stderr):
        raise RuntimeError(f"{renderer}: rendering {overlay} warned:\n{result.stderr.strip()}")
    return result.stdout


def renderer_version(renderer: str) -> str:
    """The kustomize a renderer runs, for the log: kubectl's embedded one, or the package's
    version in the tools image (Debian's build reports `kustomize version` as "(devel)")."""
    if renderer == "kubectl":
        command = ["kubectl", "version", "--client"]
    else:
        command = ["docker", "run", "--rm", "--network", "none", TOOLS_IMAGE,
                   "dpkg-query", "-W", "-f", "kustomize ${Version}", "kustomize"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = result.stdout.strip().splitlines()
    if renderer == "kubectl":
        lines = [line for line in lines if line.startswith("Kustomize")] or lines
    return ", ".join(lines) if result.returncode == 0 else "unknown version"


def load(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render_overlay(overlay: str, renderer: str | None = None) -> list[dict[str, Any]]:
    """Stage, render and parse one overlay (the helper the tests use)."""
    chosen = renderer or choose_renderers()[0]
    with tempfile.TemporaryDirectory(prefix="k8s-render-") as tmp:
        return load(render(overlay, chosen, stage_tree(Path(tmp))))


def normalised(docs: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """Objects keyed by kind and name with generated-name hashes and empty metadata removed,
    to compare the output of two kustomize versions (which may hash differently)."""
    out = {}
    for doc in docs:
        text = _HASH_SUFFIX.sub("-HASH", json.dumps(doc, sort_keys=True))
        item = json.loads(text)
        if item["kind"] == "Secret":
            # Older kustomize versions wrap the base64 at 76 characters (kubectl 1.20's did).
            item["data"] = {k: v.replace("\n", "") for k, v in (item.get("data") or {}).items()}
        for key in ("annotations", "labels"):
            if item["metadata"].get(key) == {}:
                del item["metadata"][key]
        out[(item["kind"], item["metadata"]["name"])] = item
    return out


# --- Hardening -------------------------------------------------------------------------------


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


# --- Schemas and checkov -----------------------------------------------------------------------


def schema_problems(docs: list[dict[str, Any]], version: str = KUBERNETES_VERSION) -> list[str]:
    """Validate each object against the Kubernetes JSON schema, strict (no unknown fields)."""
    import kubernetes_validate

    problems = []
    for doc in docs:
        where = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.path)
            problems.append(f"{where}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{where}: no schema ({exc})")
    return problems


def _checkov_binary() -> str:
    beside = Path(sys.executable).with_name("checkov")
    return str(beside) if beside.exists() else "checkov"


def checkov_results(manifest: Path) -> dict[str, list[tuple[str, str]]]:
    """Run checkov on one rendered file: {'passed': [(check, resource)], 'failed': [...]}."""
    command = [
        _checkov_binary(), "--file", str(manifest), "--framework", "kubernetes",
        "--output", "json", "--skip-download",
        "--skip-check", ",".join(sorted(CHECKOV_SKIPS)),
    ]  # fmt: skip
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"checkov gave no JSON report:\n{result.stderr[-2000:]}") from None
    reports = report if isinstance(report, list) else [report]
    out: dict[str, list[tuple[str, str]]] = {"passed": [], "failed": []}
    for rep in reports:
        results = rep.get("results") or {}
        for state in ("passed", "failed"):
            for check in results.get(f"{state}_checks") or []:
                out[state].append((check["check_id"], check.get("resource", "")))
    return out


def checkov_problems(manifest: Path) -> list[str]:
    results = checkov_results(manifest)
    problems = [f"checkov {check}: {resource}" for check, resource in results["failed"]]
    passed = {check for check, _ in results["passed"]}
    problems.extend(
        f"checkov {check}: not evaluated (expected to run and pass)"
        for check in CHECKOV_REQUIRED
        if check not in passed
    )
    return problems


# --- Main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renderer", help="auto | kubectl | docker | all (default K8S_RENDERER)")
    parser.add_argument("--out", type=Path, default=K8S_DIR / ".rendered")
    parser.add_argument("--no-checkov", action="store_true", help="skip the checkov step")
    args = parser.parse_args(argv)

    renderers = choose_renderers(args.renderer)
    for renderer in renderers:
        print(f"renderer {renderer}: {renderer_version(renderer)}")
    args.out.mkdir(parents=True, exist_ok=True)
    problems = deprecated_field_problems()
    status = "ok" if not problems else f"{len(problems)} problem(s)"
    print(f"kustomizations: deprecated fields: {status}")
    for problem in problems:
        print(f"  - {problem}")
    failures = int(bool(problems))
    with tempfile.TemporaryDirectory(prefix="k8s-validate-") as tmp:
        tree = stage_tree(Path(tmp))
        for overlay in OVERLAYS:
            rendered: dict[str, list[dict[str, Any]]] = {}
            for renderer in renderers:
                label = f"{overlay} ({renderer})"
                start = time.monotonic()
                try:
                    text = render(overlay, renderer, tree)
                except RuntimeError as exc:
                    print(f"FAIL {label}: {exc}")
                    failures += 1
                    continue
                docs = load(text)
                rendered[renderer] = docs
                manifest = args.out / f"{overlay}.{renderer}.yaml"
                manifest.write_text(text)
                steps = [
                    ("schema", lambda d=docs: schema_problems(d)),
                    ("hardening", lambda d=docs: hardening_problems(d)),
                ]
                if not args.no_checkov:
                    steps.append(("checkov", lambda m=manifest: checkov_problems(m)))
                for step, run in steps:
                    problems = run()
                    status = "ok" if not problems else f"{len(problems)} problem(s)"
                    print(f"{label}: {step}: {status}")
                    for problem in problems:
                        print(f"  - {problem}")
                    failures += bool(problems)
                print(
                    f"{label}: {len(docs)} objects, {time.monotonic() - start:.1f}s, "
                    f"written to {manifest}"
                )
            if len(rendered) == 2:
                first, second = (normalised(d) for d in rendered.values())
                differing = sorted(
                    f"{kind}/{name}"
                    for kind, name in first.keys() | second.keys()
                    if first.get((kind, name)) != second.get((kind, name))
                )
                if differing:
                    print(f"FAIL {overlay}: kubectl and docker renderings differ: {differing}")
                    failures += 1
                else:
                    print(f"{overlay}: kubectl and kustomize (docker) renderings agree")
    print("k8s-validate: " + ("passed" if not failures else f"FAILED ({failures})"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
