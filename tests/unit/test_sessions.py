"""app/sessions.py: Flask's cookie sessions unchanged, with the signing serializer built once
per SECRET_KEY (and fallbacks) instead of once per request."""

from __future__ import annotations

import pytest
from flask import Flask, session

from app.sessions import CachedSerializerSessionInterface
from tests.unit.conftest import build_app

pytestmark = pytest.mark.unit


def session_app() -> Flask:
    """A testing app with a route that stores a value in the session and one that reads it."""
    app = build_app()

    @app.get("/set")
    def set_value() -> str:
        session["who"] = "tester"
        return "set"

    @app.get("/get")
    def get_value() -> str:
        return session.get("who", "nobody")

    return app


def test_a_session_still_round_trips_and_the_serializer_is_built_once() -> None:
    app = session_app()
    assert isinstance(app.session_interface, CachedSerializerSessionInterface)

    client = app.test_client()
    first = app.session_interface.get_signing_serializer(app)
    assert client.get("/set").status_code == 200
    assert client.get("/get").get_data(as_text=True) == "tester"
    assert app.session_interface.get_signing_serializer(app) is first


def test_a_new_secret_key_gets_a_new_serializer_and_old_cookies_stop_counting() -> None:
    app = session_app()

    client = app.test_client()
    client.get("/set")
    before = app.session_interface.get_signing_serializer(app)
    app.secret_key = "another-secret-key-that-is-long-enough-for-this"
    assert app.session_interface.get_signing_serializer(app) is not before
    assert client.get("/get").get_data(as_text=True) == "nobody"
