"""Flask's signed-cookie sessions, with the signing serializer built once per key set.

Flask builds a new serializer for every request (open_session), cookie or not, and that
build is ~10 % of a /healthz request's CPU in the app (docs/performance.md, "Where the time
goes"). The serializer depends only on SECRET_KEY and SECRET_KEY_FALLBACKS: it is kept
and built again only when they change, so sessions behave exactly as Flask's own.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class CachedSerializerSessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._serializer: tuple[Any, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._serializer
        if cached is None or cached[0] != key:
            cached = (key, super().get_signing_serializer(app))
            self._serializer = cached
        return cached[1]
