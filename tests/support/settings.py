"""Where the stack listens and the names a fork changes, as Compose resolves them.

Nothing here restates a default: every value comes from `docker compose config` (compose.yaml
with .env, images.env and the environment applied), so the tests follow any setting the stack
follows. Only the standard library: the benchmark imports it too.
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_SH = ROOT / "scripts" / "compose.sh"


@functools.cache
def compose_config() -> dict[str, Any]:
    """The resolved Compose project."""
    result = subprocess.run(
        [str(COMPOSE_SH), "config", "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def published_port(service: str, target: int) -> int:
    for port in compose_config()["services"][service].get("ports", []):
        if int(port["target"]) == target:
            return int(port["published"])
    raise LookupError(f"{service} publishes no port for {target}")


def _environment(service: str) -> dict[str, str]:
    environment: dict[str, str] = compose_config()["services"][service].get("environment") or {}
    return environment


def _secret_file(name: str) -> Path:
    return Path(compose_config()["secrets"][name]["file"])


PROJECT = compose_config()["name"]
BIND_ADDRESS = compose_config()["services"]["nginx"]["ports"][0].get("host_ip") or "0.0.0.0"
HTTP_PORT = published_port("nginx", 8080)
HTTPS_PORT = published_port("nginx", 8443)
PROMETHEUS_PORT = published_port("prometheus", 9090)
POSTGRES_DB = _environment("postgres")["POSTGRES_DB"]
POSTGRES_USER = _environment("postgres")["POSTGRES_USER"]
SECRETS_DIR = _secret_file("secret_key").parent
CERT_DIR = Path(
    next(
        volume["source"]
        for volume in compose_config()["services"]["nginx"]["volumes"]
        if volume["target"].endswith("/fullchain.pem")
    )
).parent
APP_IMAGE = compose_config()["services"]["app"]["image"]


def secret(name: str) -> str:
    """A secret's value, read from the file Compose mounts."""
    return _secret_file(name).read_text().strip()
