"""compose.yaml, the reference tests/k8s compares the rendered manifests with.

Where compose.yaml states the answer (who gets which secret, who logs in as whom, which scripts
run), the tests read it from here, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.k8s.conftest import ROOT


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
