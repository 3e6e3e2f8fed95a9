"""Fixtures for end-to-end tests: the running stack, driven over its published ports."""

from __future__ import annotations

import pytest

from tests.support.edge import exit_unless_reachable


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The tests that need the edge's limits lifted run first and one after another: nginx is
    # recreated twice in all, not twice for each of them (tests/conftest.py).
    items.sort(key=lambda item: "edge_limits_raised" not in item.fixturenames)


@pytest.fixture(scope="session", autouse=True)
def stack_is_up() -> None:
    """Every e2e test needs the stack: fail fast with a hint when it is not running."""
    exit_unless_reachable("`make up`")
