"""Fixtures shared by the suites that drive a running stack (e2e, contract, swarm). Imports of
tests.support happen inside the fixtures: the unit tests load this file too, and must not need
Docker (tests.support.settings asks Compose for the stack's settings)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    """A session for the stack's HTTPS edge."""
    from tests.support.edge import new_session

    with new_session() as session:
        yield session


@pytest.fixture
def edge_limits_raised() -> Iterator[None]:
    """The edge's per-client limits lifted for a test that measures something else (counts,
    deploys), as `make bench` lifts them; put back afterwards."""
    script = str(ROOT / "scripts" / "edge-limits.sh")
    subprocess.run([script, "raise"], check=True, capture_output=True, timeout=180)
    try:
        yield
    finally:
        subprocess.run([script, "restore"], check=True, capture_output=True, timeout=180)
