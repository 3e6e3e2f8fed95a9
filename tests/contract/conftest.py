"""The contract suite runs against whichever stack is up: `make test-e2e` (Compose) and
`make test-swarm` (Swarm) both collect it."""

from __future__ import annotations

import pytest

from tests.support.edge import exit_unless_reachable


@pytest.fixture(scope="session", autouse=True)
def stack_is_up() -> None:
    exit_unless_reachable("`make up` (or `make swarm-up`)")
