"""Fixtures for end-to-end tests: the running stack, driven over its published ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from .stack import BASE, CA_FILE, new_session


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    """A session for the stack's HTTPS edge."""
    with new_session() as session:
        yield session


@pytest.fixture(scope="session", autouse=True)
def stack_is_up() -> None:
    """Every e2e test needs the stack: fail fast with a hint when it is not running."""
    try:
        requests.get(f"{BASE}/healthz", verify=CA_FILE, timeout=5)
    except requests.RequestException as error:
        pytest.exit(f"the stack is not reachable at {BASE} ({error}); run `make up` first", 2)
