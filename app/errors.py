"""Error responses: JSON under /api (and the health endpoints), small HTML pages elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    TimeoutError as PoolTimeoutError,
)
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from app.extensions import db

log = logging.getLogger(__name__)

# Short codes for the HTTP errors the API can produce; anything else becomes "http_error".
HTTP_CODES = {
    400: ("bad_request", "The request could not be understood."),
    404: ("not_found", "The requested resource does not exist."),
    405: ("method_not_allowed", "The method is not allowed for this resource."),
    413: ("payload_too_large", "The request body is larger than 1 MiB."),
    415: ("unsupported_media_type", "The request body must be JSON (application/json)."),
    422: ("validation_error", "The request body is not valid."),
    429: ("too_many_requests", "Too many requests; slow down."),
    500: ("internal_error", "An unexpected error occurred."),
    503: ("service_unavailable", "The service is temporarily unavailable."),
}

# The body of every error under /api, as the OpenAPI document states it (app/openapi/).
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "A short code, stable for clients."},
                "message": {"type": "string", "description": "A sentence for people."},
                "field": {"type": "string", "description": "The invalid field (422 only)."},
            },
            "required": ["code", "message"],
            "additionalProperties": False,
        }
    },
    "required": ["error"],
    "additionalProperties": False,
}


class ApiError(Exception):
    """An error with a status, a short code, a sentence and, for validation, a field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


class ValidationError(ApiError):
    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(422, "validation_error", message, field)


def wants_json() -> bool:
    path = request.path
    return path == "/api" or path.startswith(("/api/", "/health"))


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    """The JSON error body of the contract, or an HTML page outside the API."""
    if wants_json():
        body: dict[str, str] = {"code": code, "message": message}
        if field is not None:
            body["field"] = field
        response = jsonify(error=body)
    else:
        response = Response(
            render_template("error.html", status=status, message=message),
            mimetype="text/html",
        )
    response.status_code = status
    return response


def is_database_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError | DisconnectionError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # the session may be as broken as the database
        log.debug("rollback failed", exc_info=True)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.field)

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        code, message = HTTP_CODES.get(status, ("http_error", "The request failed."))
        response = error_response(status, code, message)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return response

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeoutError)
    @app.errorhandler(DisconnectionError)
    def handle_database_error(exc: Exception) -> Response:
        _rollback()
        if not is_database_unavailable(exc):
            raise exc
        log.error("database unavailable: %s", type(exc).__name__)
        return error_response(
            503, "database_unavailable", "The database is unavailable; try again shortly."
        )

    @app.errorhandler(InternalServerError)
    def handle_unexpected_error(exc: InternalServerError) -> Response:
        # Flask has already logged the original exception with its traceback and sent the
        # signal Sentry listens to; the client gets no internals.
        _rollback()
        code, message = HTTP_CODES[500]
        return error_response(500, code, message)
