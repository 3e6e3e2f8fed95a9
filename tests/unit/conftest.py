"""Fixtures for the unit suite: an app on SQLite in memory with an in-process cache."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.extensions import db

ItemFactory = Callable[..., dict[str, Any]]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """After a bare `pytest` (the unit tests only), say how to run the rest."""
    paths = [arg for arg in config.invocation_params.args if not arg.startswith("-")]
    if not paths:
        terminalreporter.write_line(
            "Only the unit tests ran. `make test` runs lint, unit, k8s and end-to-end tests "
            "(it starts the stack); `make test-e2e` runs the end-to-end tests against `make up`."
        )


def build_app(**overrides: Any) -> Flask:
    """A testing app with its tables created."""
    app = create_app({"FLASK_CONFIG": "testing", **overrides})
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def app() -> Iterator[Flask]:
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
