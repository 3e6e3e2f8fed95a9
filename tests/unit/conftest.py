"""Fixtures for the unit suite: an app on the suite's own Postgres (tests/support/postgres.py)
with an in-process cache. Only the tests that ask for `database` (through `app`, `client`...)
start the server; each process of the session has its own database, emptied before each test.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.extensions import db
from pyservice.logs import service_logger
from tests.support import postgres

ItemFactory = Callable[..., dict[str, Any]]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """After a bare `pytest` (the unit tests only), say how to run the rest."""
    paths = [arg for arg in config.invocation_params.args if not arg.startswith("-")]
    if not paths:
        terminalreporter.write_line(
            "Only the unit tests ran. `make test` runs lint, unit, k8s and end-to-end tests "
            "(it starts the stack); `make test-e2e` runs the end-to-end tests against `make up`."
        )


STATE_DIR = "unit_postgres_state_dir"


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_HandOver())


class _HandOver:
    """The xdist controller's state directory goes to its workers: one server a session."""

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[STATE_DIR] = str(postgres.own_state_dir())


def _state_dir(config: pytest.Config) -> Path:
    worker = getattr(config, "workerinput", None)
    return Path(worker[STATE_DIR]) if worker else postgres.own_state_dir()


@pytest.fixture(scope="session")
def postgres_server(pytestconfig: pytest.Config) -> Iterator[tuple[str, int]]:
    """(this process's database URL, the server's port): the server started if none is."""
    with postgres.process_database(_state_dir(pytestconfig)) as found:
        yield found


@pytest.fixture
def database(postgres_server: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> str:
    """This process's database, every table emptied and every id sequence restarted; the
    testing config connects to it (DATABASE_URL) for the test's length."""
    url, port = postgres_server
    postgres.empty(port, url.rsplit("/", 1)[1])
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def build_app(**overrides: Any) -> Flask:
    """A testing app (on `database` when the test asked for it)."""
    return create_app({"FLASK_CONFIG": "testing", **overrides})


@pytest.fixture
def app(database: str) -> Iterator[Flask]:
    app = build_app()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_item(client: FlaskClient) -> ItemFactory:
    """Create an item through the API and return its JSON."""

    def make(name: str = "An item", description: str | None = None) -> dict[str, Any]:
        response = client.post("/api/items", json={"name": name, "description": description})
        assert response.status_code == 201, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body

    return make


@pytest.fixture
def service_logging() -> Iterator[Callable[[str], logging.Logger]]:
    """Configure the logging of a service (acme, backup) as its command does; the root
    logger's handlers and level are put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield service_logger
    root.handlers[:] = handlers
    root.setLevel(level)
