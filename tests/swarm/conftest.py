"""Fixtures for the Swarm tests: the stack deployed by `make swarm-up`, over its ports."""

from __future__ import annotations

import pytest

from tests.support.edge import exit_unless_reachable


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/swarm/" in str(item.path):
            item.add_marker(pytest.mark.swarm)


@pytest.fixture(scope="session", autouse=True)
def swarm_stack_is_up() -> None:
    exit_unless_reachable("`make swarm-up`")
