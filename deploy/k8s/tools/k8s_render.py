"""Steps 1 and 2 of `make k8s-validate` (k8s_validate.py): stage deploy/k8s/ with placeholder
secrets, render each overlay with kubectl or the tools image's kustomize, parse the output, and
compare two renderers' outputs apart from generated-name hashes."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

K8S_DIR = Path(__file__).resolve().parents[1]
OVERLAYS = ("local", "production")
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

# What kustomize prints before a warning (a deprecated field, among others) on stderr.
_KUSTOMIZE_WARNING = re.compile(r"^# Warning:", re.MULTILINE)

_HASH_SUFFIX = re.compile(r"-[a-z0-9]{10}\b")
_PEM = (
    "-----BEGIN {kind}-----\n"
    "cGxhY2Vob2xkZXIgZm9yIG9mZmxpbmUgdmFsaWRhdGlvbiBvbmx5\n"
    "-----END {kind}-----\n"
)


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
