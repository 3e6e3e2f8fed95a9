"""Every row of the contract's error table, the shape of every error body and the sentence it
carries; only a lost or unreachable database is a 503, and a rollback that fails is logged
without hiding the response."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from app import create_app
from app.errors import ApiError, ValidationError, is_database_unavailable
from app.extensions import db
from app.items import service
from app.items.models import Item
from tests.unit.conftest import ItemFactory, build_app

pytestmark = pytest.mark.unit

# Port 1 on loopback refuses at once: a real driver error without any network.
UNREACHABLE_POSTGRES = "postgresql+psycopg2://app:pw@127.0.0.1:1/app"


def error_of(response: Any) -> dict[str, str]:
    assert response.is_json, response.data
    body = response.get_json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"])
    assert "Traceback" not in response.get_data(as_text=True)
    error: dict[str, str] = body["error"]
    return error


def test_an_api_error_reads_as_its_sentence() -> None:
    error = ApiError(409, "conflict", "The item changed meanwhile.", "name")
    assert str(error) == error.message == "The item changed meanwhile."
    invalid = ValidationError("name", "'name' must not be empty.")
    assert str(invalid) == invalid.message == "'name' must not be empty."
    assert (invalid.status, invalid.code, invalid.field) == (422, "validation_error", "name")


def test_the_client_gets_the_sentence_of_an_api_error(client: FlaskClient) -> None:
    missing = client.get("/api/items/424242")
    assert error_of(missing)["message"] == "The requested item does not exist."


def test_malformed_json_is_400(client: FlaskClient) -> None:
    response = client.post(
        "/api/items", data='{"name": "x"', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_json"


@pytest.mark.parametrize("payload", ["", "NaN", "\xff\xfe", '{"name": "x"} trailing'])
def test_other_unparseable_bodies_are_400(client: FlaskClient, payload: str) -> None:
    response = client.post(
        "/api/items", data=payload.encode("latin-1"), content_type="application/json"
    )
    assert response.status_code == 400
    error_of(response)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_body_that_is_not_json_is_415(client: FlaskClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/api/items", data='{"name": "x"}', headers=headers)
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_patch_without_json_content_type_is_415(
    client: FlaskClient, make_item: ItemFactory
) -> None:
    item = make_item()
    response = client.patch(f"/api/items/{item['id']}", data="name=x")
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": None}, "name"),
        ({"name": 5}, "name"),
        ({"name": ["x"]}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "nul\x00"}, "name"),
        ({"name": "ok", "description": "d" * 2001}, "description"),
        ({"name": "ok", "description": 7}, "description"),
        ({"name": "ok", "colour": "red"}, "colour"),
        ({"name": "ok", "id": 3}, "id"),
    ],
)
def test_validation_errors_are_422_naming_the_field(
    client: FlaskClient, body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/items", json=body)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert error["field"] == field


def test_boundary_lengths_are_accepted(client: FlaskClient) -> None:
    body = {"name": "x" * 200, "description": "d" * 2000}
    assert client.post("/api/items", json=body).status_code == 201


@pytest.mark.parametrize("body", ["[]", '"name"', "3", "null"])
def test_json_that_is_not_an_object_is_422(client: FlaskClient, body: str) -> None:
    response = client.post("/api/items", data=body, content_type="application/json")
    assert response.status_code == 422
    error_of(response)


def test_patch_validation_errors_are_422(client: FlaskClient, make_item: ItemFactory) -> None:
    item = make_item()
    response = client.patch(f"/api/items/{item['id']}", json={"name": None})
    assert response.status_code == 422
    assert error_of(response)["field"] == "name"
    response = client.patch(f"/api/items/{item['id']}", json={"extra": 1})
    assert error_of(response)["field"] == "extra"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=1.5", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("offset=99999999999999999999999", "offset"),
    ],
)
def test_invalid_list_parameters_are_422_naming_them(
    client: FlaskClient, query: str, field: str
) -> None:
    response = client.get(f"/api/items?{query}")
    assert response.status_code == 422
    assert error_of(response)["field"] == field


@pytest.mark.parametrize(
    "path",
    [
        "/api/items/999",
        "/api/nothing-here",
        "/api",
        "/api/items/abc",
        "/api/items/-1",
        "/api/items/99999999999999999999999999",
        f"/api/items/{2**63}",
    ],
)
def test_unknown_resources_and_routes_are_404_json(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_huge_ids_are_404_for_every_method(client: FlaskClient) -> None:
    path = f"/api/items/{10**30}"
    assert client.patch(path, json={"name": "x"}).status_code == 404
    assert client.delete(path).status_code == 404


def test_wrong_method_is_405_json_with_allow(client: FlaskClient) -> None:
    response = client.put("/api/items", json={"name": "x"})
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert client.post("/api/items/1", json={}).status_code == 405


@pytest.mark.parametrize("path", ["/health", "/healthz"])
def test_errors_on_the_health_endpoints_are_json(client: FlaskClient, path: str) -> None:
    response = client.post(path)
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_body_over_one_mebibyte_is_413_json(client: FlaskClient) -> None:
    big = '{"name": "' + "x" * (1024 * 1024) + '"}'
    response = client.post("/api/items", data=big, content_type="application/json")
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_a_body_of_exactly_one_mebibyte_is_read(client: FlaskClient) -> None:
    """The limit is 1 MiB inclusive: such a body is read and judged (name too long: 422)."""
    head, tail = '{"name": "', '"}'
    big = head + "x" * (1024 * 1024 - len(head) - len(tail)) + tail
    assert len(big) == 1024 * 1024
    response = client.post("/api/items", data=big, content_type="application/json")
    assert response.status_code == 422
    assert error_of(response)["code"] == "validation_error"


def test_unknown_page_outside_the_api_is_html_without_internals(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert "404" in text
    assert "The requested resource does not exist." in text
    assert "Werkzeug" not in text
    assert "Flask" not in text.replace("Flask stack", "")


def test_database_unavailable_is_503_and_the_session_rolls_back(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    rollbacks: list[bool] = []
    rollback = db.session.rollback

    def counted_rollback() -> None:
        # Called by the error handler while the failed work is still pending in the session.
        rollbacks.append(any(isinstance(obj, Item) for obj in db.session.new))
        rollback()

    def broken(*_: Any, **__: Any) -> None:
        db.session.add(Item(name="half-done"))
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(db.session, "rollback", counted_rollback)
    monkeypatch.setattr(service, "list_items", broken)
    response = client.get("/api/items")
    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "database_unavailable"
    assert "server closed" not in error["message"]
    assert rollbacks == [True], "the handler did not roll the failed work back"


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


def test_unreachable_postgres_gives_503_on_the_api() -> None:
    app = create_app(
        {
            "FLASK_CONFIG": "testing",
            "SQLALCHEMY_DATABASE_URI": UNREACHABLE_POSTGRES,
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 1}},
        }
    )
    response = app.test_client().get("/api/items")
    assert response.status_code == 503
    assert error_of(response)["code"] == "database_unavailable"
    response = app.test_client().post("/api/items", json={"name": "x"})
    assert response.status_code == 503


def test_unexpected_errors_are_500_without_internals(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(PROPAGATE_EXCEPTIONS=False)

    def explode(*_: Any, **__: Any) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service, "get_stats", explode)
    response = app.test_client().get("/api/stats")
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error"
    assert "secret internal detail" not in response.get_data(as_text=True)
    logged = [r for r in caplog.records if r.exc_info and r.levelname == "ERROR"]
    assert logged, "the exception is logged with its traceback"


@pytest.mark.usefixtures("database")
def test_a_request_that_waits_past_the_pool_timeout_gets_503() -> None:
    # One connection, held elsewhere: the request waits pool_timeout (1 s) for it before the
    # handler answers.
    app = build_app(
        PROPAGATE_EXCEPTIONS=False,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0, "pool_timeout": 1},
    )
    with app.app_context():
        engine = db.engine
        with engine.connect():  # the pool's only connection, checked out
            response = app.test_client().get("/api/items")
        assert response.status_code == 503
        assert error_of(response)["code"] == "database_unavailable"
        # With the connection back in the pool, the same request succeeds.
        assert app.test_client().get("/api/items").status_code == 200
        engine.dispose()
