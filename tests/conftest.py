"""Fixtures shared by the suites that drive a running stack (e2e, contract, swarm)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.support.edge import new_session


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    """A session for the stack's HTTPS edge."""
    with new_session() as session:
        yield session
