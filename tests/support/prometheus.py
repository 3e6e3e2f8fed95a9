"""Queries against the stack's published Prometheus."""

from __future__ import annotations

from typing import Any

import requests

from .settings import PROMETHEUS_PORT

PROMETHEUS = f"http://127.0.0.1:{PROMETHEUS_PORT}"


def query(promql: str) -> list[dict[str, Any]]:
    response = requests.get(f"{PROMETHEUS}/api/v1/query", params={"query": promql}, timeout=10)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def scalar(promql: str) -> float | None:
    result = query(promql)
    return float(result[0]["value"][1]) if result else None
