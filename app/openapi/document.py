"""The OpenAPI 3.1 document of an app, built from its URL map and its views' ``@operation``.

Paths, methods and path parameters come from the routes themselves; bodies, query parameters
and answers from each view's declaration. The answers every route shares (the edge's 400 for a
request it cannot read and its 429, the body errors of every JSON request) are added here, once,
as the contract states them.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from werkzeug.routing import Rule

from app.errors import ERROR_SCHEMA
from app.openapi.declare import HTML, JSON, Operation, Reply, declared_operation

# Routes that are not part of the HTTP API, and why. Nothing else may be missing.
NOT_IN_DOCUMENT = {
    "static": "Flask's own static route (SERVE_STATIC, development only): nginx serves /static/.",
}

# Automatic methods: Flask answers HEAD and OPTIONS for every route.
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}

ERROR_REF = {"$ref": "#/components/schemas/Error"}
RETRY_AFTER = "Seconds to wait before the next request."

# The shared error answers, by status: every one has the contract's JSON error body.
ERRORS: dict[int, tuple[str, Reply]] = {
    400: (
        "BadRequest",
        Reply(
            "The body is not valid JSON (`malformed_json`), or the edge could not read the "
            "request: a malformed request line or path, a header over 16 KiB (`bad_request`).",
            ERROR_REF,
        ),
    ),
    404: ("NotFound", Reply("No such resource or route (`not_found`).", ERROR_REF)),
    405: (
        "MethodNotAllowed",
        Reply(
            "A method the path does not list (`method_not_allowed`); `Allow` lists those it does.",
            ERROR_REF,
            headers={"Allow": "The methods the path answers, comma-separated."},
        ),
    ),
    413: ("PayloadTooLarge", Reply("The body is over 1 MiB (`payload_too_large`).", ERROR_REF)),
    415: (
        "UnsupportedMediaType",
        Reply("The body is not `application/json` (`unsupported_media_type`).", ERROR_REF),
    ),
    422: (
        "ValidationFailed",
        Reply(
            "A field is missing, of the wrong type, too long or unknown (`validation_error`); "
            "`field` names it.",
            ERROR_REF,
        ),
    ),
    429: (
        "RateLimited",
        Reply(
            "Over the per-client rate limit at the edge (`rate_limited`).",
            ERROR_REF,
            headers={"Retry-After": RETRY_AFTER},
        ),
    ),
    503: (
        "Unavailable",
        Reply(
            "The database is unavailable (`database_unavailable`), or for a new import the job "
            "queue (`queue_unavailable`): nothing was changed; try again shortly.",
            ERROR_REF,
        ),
    ),
}
# What the edge answers on any path, before the app: JSON under /api, and outside it the small
# HTML pages below (nginx's $error_kind).
EDGE_ERRORS = (400, 429)
EDGE_PAGES = {
    400: Reply("The edge could not read the request.", {"type": "string"}, HTML),
    429: Reply(
        "Over the per-client rate limit at the edge.",
        {"type": "string"},
        HTML,
        {"Retry-After": RETRY_AFTER},
    ),
}
# Every JSON body is read by one function (app/json_validation.py: read_json_object).
BODY_ERRORS = (400, 413, 415, 422)

DESCRIPTION = """\
The HTTP API of the Flask production stack, generated from the code (app/openapi/).

Every error under `/api/` is JSON: `{"error": {"code": ..., "message": ..., "field": ...}}`,
with `field` for validation errors only, and never a traceback. A method a path does not list
is answered 405 with `Allow`. Every path is rate-limited per client at the edge (429 with
`Retry-After`), and a request the edge cannot read is answered 400. When the app cannot be
reached, the edge answers 502, 503 or 504.
"""

_VARIABLE = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
_CONVERTERS: dict[str, dict[str, Any]] = {
    "default": {"type": "string", "pattern": "^[^/]+$"},
    "string": {"type": "string", "pattern": "^[^/]+$"},
    "int": {"type": "integer", "minimum": 0},
    "path": {"type": "string"},
}


def documented_rules(app: Flask) -> list[Rule]:
    """The rules the document describes: all but NOT_IN_DOCUMENT."""
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint not in NOT_IN_DOCUMENT]
    return sorted(rules, key=lambda rule: rule.rule)


def undeclared_endpoints(app: Flask) -> list[str]:
    """Endpoints of documented rules whose view declares no operation (a route left out)."""
    return sorted(
        {
            rule.endpoint
            for rule in documented_rules(app)
            if declared_operation(app.view_functions[rule.endpoint]) is None
        }
    )


def openapi_path(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    """``/api/items/<int:item_id>`` -> ``/api/items/{item_id}`` and its path parameters."""
    parameters = []
    for match in _VARIABLE.finditer(rule.rule):
        converter = match["converter"] or "default"
        if converter not in _CONVERTERS:
            raise ValueError(f"{rule.rule}: add the converter {converter!r} to _CONVERTERS")
        parameters.append(
            {
                "name": match["name"],
                "in": "path",
                "required": True,
                "schema": dict(_CONVERTERS[converter]),
            }
        )
    return _VARIABLE.sub(lambda match: "{" + match["name"] + "}", rule.rule), parameters


def _reply(reply: Reply) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description}
    if reply.headers:
        out["headers"] = {
            name: {"description": text, "required": True, "schema": {"type": "string"}}
            for name, text in reply.headers.items()
        }
    if reply.schema is not None:
        out["content"] = {reply.media_type: {"schema": dict(reply.schema)}}
    return out


def _operation(
    rule: Rule, method: str, declared: Operation, parameters: list[dict[str, Any]]
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(status): _reply(reply) for status, reply in sorted(declared.replies.items())
    }
    statuses = set(declared.errors) | set(EDGE_ERRORS)
    if declared.body is not None:
        statuses |= set(BODY_ERRORS)
    for status in sorted(statuses):
        if status in EDGE_PAGES and not _is_api(rule.rule):
            responses[str(status)] = _reply(EDGE_PAGES[status])
        else:
            responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    query = [
        {"name": name, "in": "query", "required": False, "allowEmptyValue": True, "schema": schema}
        for name, schema in declared.query.items()
    ]
    several = len(rule.methods - IMPLICIT_METHODS) > 1
    out: dict[str, Any] = {
        "operationId": f"{rule.endpoint}.{method.lower()}" if several else rule.endpoint,
        "tags": [rule.endpoint.partition(".")[0]],
        "summary": declared.summary,
    }
    if declared.description:
        out["description"] = declared.description
    if parameters or query:
        out["parameters"] = [*parameters, *query]
    if declared.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": dict(declared.body)}},
        }
    out["responses"] = responses
    return out


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def build_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of APP's routes."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in documented_rules(app):
        declared = declared_operation(app.view_functions[rule.endpoint])
        if declared is None:
            continue  # tests/unit/test_openapi.py fails on it: undeclared_endpoints()
        path, parameters = openapi_path(rule)
        item = paths.setdefault(path, {})
        for method in sorted(rule.methods - IMPLICIT_METHODS):
            item[method.lower()] = _operation(rule, method, declared, parameters)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Flask production stack API",
            "version": app.config["APP_VERSION"],
            "description": DESCRIPTION,
        },
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "responses": {name: _reply(reply) for name, reply in ERRORS.values()},
        },
    }
