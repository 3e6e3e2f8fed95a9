"""Fixtures for the Swarm tests: the stack deployed by `make swarm-up`, over its ports."""

from __future__ import annotations

import os

import pytest

from tests.support import prometheus
from tests.support.edge import exit_unless_reachable

STACK = os.environ.get("SWARM_STACK", "flaskswarm")


@pytest.fixture(scope="session", autouse=True)
def swarm_stack_is_up() -> None:
    exit_unless_reachable("`make swarm-up`")
    # Swarm does not publish Prometheus: ask it inside its task.
    prometheus.use(prometheus.InSwarmTask(f"{STACK}_prometheus"))
