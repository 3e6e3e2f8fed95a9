"""Error handling, in the detail mutation testing asked for: the sentence of each error reaches
the client, the health endpoints answer in JSON, only real outages are 503, and a rollback that
fails is logged without hiding the response."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from app.errors import ApiError, ValidationError, is_database_unavailable
from app.extensions import db
from app.items import service
from tests.unit.conftest import build_app
from tests.unit.test_errors import error_of

pytestmark = pytest.mark.unit


def test_an_api_error_reads_as_its_sentence() -> None:
    error = ApiError(409, "conflict", "The item changed meanwhile.", "name")
    assert str(error) == error.message == "The item changed meanwhile."
    invalid = ValidationError("name", "'name' must not be empty.")
    assert str(invalid) == invalid.message == "'name' must not be empty."
    assert (invalid.status, invalid.code, invalid.field) == (422, "validation_error", "name")


def test_the_client_gets_the_sentence_of_an_api_error(client: FlaskClient) -> None:
    missing = client.get("/api/items/424242")
    assert error_of(missing)["message"] == "The requested item does not exist."
    empty = client.post("/api/items", json={"name": "   "})
    assert error_of(empty) == {
        "code": "validation_error",
        "message": "'name' must not be empty.",
        "field": "name",
    }


@pytest.mark.parametrize("path", ["/health", "/healthz"])
def test_errors_on_the_health_endpoints_are_json(client: FlaskClient, path: str) -> None:
    response = client.post(path)
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_an_html_error_page_says_what_went_wrong(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.mimetype == "text/html"
    assert "The requested resource does not exist." in response.get_data(as_text=True)


def test_only_a_lost_or_unreachable_database_counts_as_unavailable() -> None:
    cause = Exception("driver says no")
    assert is_database_unavailable(OperationalError("SELECT 1", {}, cause))
    assert is_database_unavailable(
        DBAPIError("SELECT 1", {}, cause, connection_invalidated=True)  # type: ignore[arg-type]
    )
    assert not is_database_unavailable(IntegrityError("INSERT", {}, cause))
    assert not is_database_unavailable(ValueError("not a database error"))


def test_a_database_error_that_is_no_outage_is_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    app = build_app(PROPAGATE_EXCEPTIONS=False)

    def duplicate(*_: Any, **__: Any) -> None:
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    monkeypatch.setattr(service, "list_items", duplicate)
    response = app.test_client().get("/api/items")
    assert response.status_code == 500
    assert error_of(response)["code"] == "internal_error"


def test_a_failing_rollback_is_logged_at_debug_and_the_client_still_gets_503(
    app: Flask,
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    def rollback_fails() -> None:
        raise OperationalError("ROLLBACK", {}, Exception("no connection"))

    monkeypatch.setattr(service, "list_items", broken)
    monkeypatch.setattr(db.session, "rollback", rollback_fails)
    caplog.set_level(logging.DEBUG, logger="app.errors")
    response = client.get("/api/items")
    assert response.status_code == 503
    [record] = [r for r in caplog.records if r.levelno == logging.DEBUG and r.name == "app.errors"]
    assert record.getMessage() == "rollback failed"
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], OperationalError)
