"""The OpenAPI document (GET /api/openapi.json): it names every route of the app and nothing
else, tools can load it, the app's answers match it, and the schemas it publishes are the ones
the validation reads (one definition)."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings, strategies as st

from app.errors import ValidationError
from app.imports.schema import NEW_IMPORT, parse_import
from app.items.schema import ITEM_CHANGES, NEW_ITEM
from app.json_validation import parse_object
from app.openapi.document import IMPLICIT_METHODS, NOT_IN_DOCUMENT

pytestmark = pytest.mark.unit


def served_document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document: dict[str, Any] = response.get_json()
    return document


def route_shapes(app: Flask) -> set[tuple[str, str]]:
    """(path with each variable as {}, method) of every route of the app's URL map."""
    return {
        (re.sub(r"<[^>]+>", "{}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in NOT_IN_DOCUMENT
        for method in rule.methods - IMPLICIT_METHODS
    }


def document_shapes(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(path with each variable as {}, method) of every operation the document names."""
    return {
        (re.sub(r"\{[^}]+\}", "{}", path), method.upper())
        for path, item in document["paths"].items()
        for method in item
    }


def test_the_document_names_every_route_of_the_app_and_no_other(app, client):
    routes, named = route_shapes(app), document_shapes(served_document(client))
    assert routes - named == set(), "routes the document does not describe"
    assert named - routes == set(), "operations the document names that no route serves"
    assert ("/api/imports", "POST") in named and ("/api/items/{}", "PATCH") in named


def test_a_route_added_without_an_operation_is_missing_from_the_document():
    from tests.unit.conftest import build_app

    app = build_app()
    app.add_url_rule("/api/widgets", "widgets", lambda: "", methods=["GET"])
    document = served_document(app.test_client())
    assert route_shapes(app) - document_shapes(document) == {("/api/widgets", "GET")}


def test_path_parameters_carry_the_route_converters_type(client):
    paths = served_document(client)["paths"]
    [item_id] = paths["/api/items/{item_id}"]["get"]["parameters"]
    assert item_id == {
        "name": "item_id", "in": "path", "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }  # fmt: skip
    [import_id] = paths["/api/imports/{import_id}"]["get"]["parameters"]
    assert import_id["schema"]["type"] == "string"


def test_every_operation_documents_the_contracts_error_answers(client):
    document = served_document(client)
    paths = document["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            assert {"400", "429"} <= set(operation["responses"]), (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= set(operation["responses"]), (method, path)
    assert paths["/api/items"]["post"]["responses"]["201"]["headers"]["Location"]["required"]
    assert paths["/api/imports"]["post"]["responses"]["202"]["headers"]["Location"]["required"]
    assert "503" in paths["/api/imports"]["post"]["responses"]
    assert "404" in paths["/api/items/{item_id}"]["delete"]["responses"]
    responses = document["components"]["responses"]
    assert "Allow" in responses["MethodNotAllowed"]["headers"]
    assert "Retry-After" in responses["RateLimited"]["headers"]
    # Outside /api the edge's 400 and 429 are HTML pages (nginx's $error_kind).
    assert "text/html" in paths["/health"]["get"]["responses"]["429"]["content"]
    assert "text/html" in paths["/"]["get"]["responses"]["400"]["content"]


def test_schemathesis_loads_the_document_with_every_operation(client):
    document = served_document(client)
    assert document["openapi"] == "3.1.0"
    loaded = [
        result.ok() for result in schemathesis.openapi.from_dict(document).get_all_operations()
    ]
    named = {(path, method) for path, item in document["paths"].items() for method in item}
    assert {(operation.path, operation.method) for operation in loaded} == named


# --- The app's answers match the document ------------------------------------------------


def check_answer(document: dict[str, Any], path: str, method: str, response) -> None:
    """RESPONSE is documented for the operation, with its headers and a body of its schema."""
    answers = document["paths"][path][method]["responses"]
    assert str(response.status_code) in answers, (method, path, response.status_code)
    answer = answers[str(response.status_code)]
    if "$ref" in answer:
        answer = document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    for header in answer.get("headers", {}):
        assert header in response.headers, (method, path, header)
    if "content" not in answer:
        assert response.data == b"", (method, path)
        return
    [(media_type, content)] = answer["content"].items()
    assert response.mimetype == media_type, (method, path)
    if media_type == "application/json":
        schema = {**content["schema"], "components": document["components"]}
        errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(response.json)]
        assert errors == [], (method, path, response.json)


def test_the_apps_answers_match_the_document(client, make_item):
    document = served_document(client)
    item = make_item("Documented", "with a description")
    item_path = "/api/items/{item_id}"
    accepted_import = client.post("/api/imports", json={"items": [{"name": "One"}]})
    url = f"/api/items/{item['id']}"
    calls = [
        ("/", "get", client.get("/")),
        ("/healthz", "get", client.get("/healthz")),
        ("/api/openapi.json", "get", client.get("/api/openapi.json")),
        ("/api/items", "get", client.get("/api/items?limit=5")),
        ("/api/items", "get", client.get("/api/items?limit=0")),
        ("/api/items", "post", client.post("/api/items", json={"name": "New"})),
        ("/api/items", "post", client.post("/api/items", json={"name": "x" * 201})),
        (
            "/api/items",
            "post",
            client.post("/api/items", data="{", content_type="application/json"),
        ),
        ("/api/items", "post", client.post("/api/items", data="name=x")),
        (
            "/api/items",
            "post",
            client.post(
                "/api/items", data=b"x" * (1024 * 1024 + 1), content_type="application/json"
            ),
        ),
        (item_path, "get", client.get(url)),
        (item_path, "get", client.get("/api/items/999999")),
        (item_path, "patch", client.patch(url, json={"description": None})),
        (item_path, "patch", client.patch(url, json={"extra": 1})),
        ("/api/stats", "get", client.get("/api/stats")),
        (item_path, "delete", client.delete(url)),
        (item_path, "delete", client.delete(url)),
        ("/api/imports", "post", accepted_import),
        ("/api/imports", "post", client.post("/api/imports", json={"items": []})),
        ("/api/imports/{import_id}", "get", client.get(accepted_import.headers["Location"])),
        ("/api/imports/{import_id}", "get", client.get("/api/imports/not-an-id")),
    ]
    for path, method, response in calls:
        check_answer(document, path, method, response)
    statuses = {response.status_code for _, _, response in calls}
    assert statuses >= {200, 201, 202, 204, 400, 404, 413, 415, 422}


def test_a_wrong_method_gets_the_documented_405_with_allow(client):
    document = served_document(client)
    response = client.put("/api/items")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    schema = {"$ref": "#/components/schemas/Error", "components": document["components"]}
    assert jsonschema_rs.is_valid(schema, response.json)


# --- One definition: the published schemas are the ones the validation reads -------------

text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=8) | st.sampled_from(
    ["", " ", "\t\x1c", "\x00", "a\x00", "\u3000", "x" * 200, "x" * 201, "y" * 2001]
)
values = st.none() | st.booleans() | st.integers() | text | st.lists(st.integers(), max_size=2)
item_bodies = st.dictionaries(st.sampled_from(["name", "description", "id", "extra"]), values)
AGREE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def accepted(parse, body: Any) -> bool:
    try:
        parse(body)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("schema", [NEW_ITEM, ITEM_CHANGES], ids=["new item", "item changes"])
@AGREE
@given(body=item_bodies)
def test_the_item_validation_accepts_exactly_what_its_published_schema_allows(schema, body):
    valid = jsonschema_rs.validator_for(schema).is_valid(body)
    assert accepted(lambda b: parse_object(b, schema), body) == valid, json.dumps(body)


@AGREE
@given(
    body=st.dictionaries(
        st.sampled_from(["items", "extra"]),
        st.lists(item_bodies | values, max_size=3) | values,
    )
)
def test_the_import_validation_accepts_exactly_what_its_published_schema_allows(body):
    valid = jsonschema_rs.validator_for(NEW_IMPORT).is_valid(body)
    assert accepted(parse_import, body) == valid, json.dumps(body)
