"""Bulk imports through the edge: post one, follow it to its end, count what it wrote."""

from __future__ import annotations

import time
from typing import Any

import requests

from .edge import BASE


def import_items(count: int, tag: str) -> list[dict[str, str]]:
    return [{"name": f"{tag} {n}", "description": f"item {n} of {tag}"} for n in range(count)]


def post_import(session: requests.Session, items: list[dict[str, Any]]) -> requests.Response:
    return session.post(f"{BASE}/api/imports", json={"items": items}, timeout=30)


def wait_finished(
    session: requests.Session, import_id: str, timeout: float = 120
) -> dict[str, Any]:
    """The import once it has succeeded or failed; AssertionError after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = session.get(f"{BASE}/api/imports/{import_id}", timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.5)
    raise AssertionError(f"import {import_id} not finished after {timeout}s: {body}")
