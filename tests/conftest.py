"""Fixtures shared by the suites that drive a running stack (e2e, contract, swarm). Imports of
tests.support happen inside the fixtures: the unit tests load this file too, and must not need
Docker (tests.support.settings asks Compose for the stack's settings)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]


# The tests that create items and read lists, totals and statistics back: in `make e2e-shared`
# (the parallel phase) they run in one process, one after another, so no other test's writes land
# between a write and its read. The rest are handed out one by one.
ITEMS_GROUP = (
    "tests/contract/",
    "tests/e2e/test_api.py",
    "tests/e2e/test_fuzz.py",
    "tests/e2e/test_edge.py",
    "tests/e2e/test_cache_consistency.py",
    "tests/e2e/test_dashboards.py",
    "tests/e2e/test_least_privilege.py::test_the_edge_is_the_apps_one_client",
)


# The suites whose tests carry their folder's name as a marker (the unit tests mark
# themselves, file by file): `-m e2e`, `-m contract`... select them.
SUITES_MARKED_BY_FOLDER = ("contract", "e2e", "swarm", "dev")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.relative_to(ROOT).parts
        if parts[0] == "tests" and parts[1] in SUITES_MARKED_BY_FOLDER:
            item.add_marker(getattr(pytest.mark, parts[1]))


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, which deploy/k8s/.venv lacks
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """pytest-xdist's scheduling by scope, the scope being ITEMS_GROUP or else the test itself.
    (Its own `xdist_group` marks do not reach pytest 9's node ids.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ItemsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "items" if nodeid.startswith(ITEMS_GROUP) else nodeid

    return ItemsTogether(config, log)


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    """A session for the stack's HTTPS edge."""
    from tests.support.edge import new_session

    with new_session() as session:
        yield session


_EDGE_LIMITS = str(ROOT / "scripts" / "edge-limits.sh")


def _edge_limits_raised_now() -> bool:
    """Whether the running nginx has the limits scripts/edge-limits.sh raises (a `make up`
    in between puts compose.yaml's back)."""
    from tests.support.stack import inspect

    raised = re.search(r"rate=\$\{2:-([^}]+)\}", Path(_EDGE_LIMITS).read_text())[1]
    return f"RATE_LIMIT={raised}" in inspect("nginx")["Config"]["Env"]


@pytest.fixture
def edge_limits_raised() -> None:
    """The edge's per-client limits lifted for a test that measures something else (counts,
    deploys), as `make bench` lifts them. They stay lifted while the next test needs them too
    (tests/e2e/conftest.py runs those one after another), and are put back after the last."""
    if not _edge_limits_raised_now():
        subprocess.run([_EDGE_LIMITS, "raise"], check=True, capture_output=True, timeout=180)


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if "edge_limits_raised" not in item.fixturenames:
        return
    if (nextitem is None or "edge_limits_raised" not in nextitem.fixturenames) and (
        _edge_limits_raised_now()
    ):
        subprocess.run([_EDGE_LIMITS, "restore"], check=True, capture_output=True, timeout=180)
