"""The bench's peers (bench/bench.py): swap the running stack's `app` service for a peer, and
put the stack's own back.

A peer is a Compose override file in bench/peers/ applied on top of the stack's own files
(compose.yaml, or COMPOSE_FILE when set) for the `app` service alone: `docker compose -f ...
-f bench/peers/compose.<peer>.yaml up -d --no-build --wait app`. Restoring is the same command
without the override, so Compose recreates the app exactly as `make up` made it (same
configuration hash); `fingerprint` lets the caller check that. nginx, Postgres, Redis and the
worker are not recreated: nginx resolves the app by name per request, so it follows the new
container.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEERS_DIR = ROOT / "bench" / "peers"

# name: (override file in bench/peers/, or None for the stack itself; what it is)
PEERS: dict[str, tuple[str | None, str]] = {
    "stack": (None, "the stack's defaults (compose.yaml, .env)"),
    "recipe": (
        "compose.recipe.yaml",
        "Flask guide's gunicorn recipe: sync, 2 x CPUs + 1 workers, keepalive 2, "
        "max_requests 1000 + jitter 50",
    ),
    "bare": (
        "compose.bare.yaml",
        "bare Flask hello (bench/peers/hello.py) on the stack's gunicorn",
    ),
    "granian": ("compose.granian.yaml", "the stack's app on Granian, the same workers x threads"),
}
# Scenarios each peer runs (bench.py's keys); the bare app answers /healthz alone.
PEER_SCENARIOS = {
    "stack": ["healthz", "item_cached", "items_list", "item_create"],
    "recipe": ["healthz", "item_cached", "items_list", "item_create"],
    "bare": ["healthz"],
    "granian": ["healthz", "item_cached", "items_list", "item_create"],
}


def base_files() -> list[str]:
    """The stack's own Compose files, as a plain `docker compose` would read them."""
    listed = os.environ.get("COMPOSE_FILE", "").strip()
    separator = os.environ.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
    return [f for f in listed.split(separator) if f] if listed else ["compose.yaml"]


def recipe_workers(cpus: int | None = None) -> int:
    """The guide's sync worker count: 2 x CPUs + 1."""
    return 2 * (cpus or os.cpu_count() or 1) + 1


def up_app_args(peer: str) -> list[str]:
    """`docker compose` arguments that run PEER as the app (the stack's own for `stack`).
    A peer is started with --no-deps (its dependencies run already: the one-shot jobs are not
    run again, which saves seconds a swap). The stack's own app is not: as
    scripts/edge-limits.sh explains, Compose would hash the service without its dependencies
    and the next `make up` would recreate it again."""
    override, _ = PEERS[peer]
    if override is None:
        return ["up", "-d", "--no-build", "--wait", "--wait-timeout", "180", "app"]
    files: list[str] = []
    for name in [*base_files(), str(PEERS_DIR / override)]:
        files += ["-f", name]
    return [*files, "up", "-d", "--no-build", "--no-deps", "--wait", "--wait-timeout", "180", "app"]


def swap(compose: Callable[..., subprocess.CompletedProcess[str]], peer: str) -> None:
    """Recreate the app as PEER (raises RuntimeError with Compose's last lines on failure)."""
    result = compose(
        *up_app_args(peer), check=False, timeout=300, env={"PEER_WORKERS": str(recipe_workers())}
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"app as peer {peer!r} failed: " + " / ".join(detail))


def fingerprint(container: dict[str, Any]) -> dict[str, Any]:
    """What must be the same before the peers ran and after the stack's app is back: the
    image, the command, the environment, the healthcheck and Compose's configuration hash,
    from `docker inspect` of the app container."""
    config = container["Config"]
    return {
        "image": config["Image"],
        "image_id": container["Image"],
        "cmd": config.get("Cmd"),
        "entrypoint": config.get("Entrypoint"),
        "env": sorted(config.get("Env") or []),
        "healthcheck": config.get("Healthcheck"),
        "config_hash": (config.get("Labels") or {}).get("com.docker.compose.config-hash"),
    }


def inspect_app(compose: Callable[..., subprocess.CompletedProcess[str]]) -> dict[str, Any]:
    app_id = compose("ps", "-q", "app", check=False).stdout.strip()
    if not app_id:
        raise RuntimeError("the app is not running")
    out = subprocess.run(
        ["docker", "inspect", app_id], capture_output=True, text=True, timeout=60, check=True
    )
    container: dict[str, Any] = json.loads(out.stdout)[0]
    return container
