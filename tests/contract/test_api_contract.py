"""The Items API, health and error table of the contract, over the published HTTPS port: run
against the Compose stack (make test-e2e) and the Swarm stack (make test-swarm) alike."""

from __future__ import annotations

import pytest

from tests.support.contract import ISO_UTC, ITEM_KEYS, assert_error, create
from tests.support.edge import BASE
from tests.support.settings import HTTPS_PORT


def test_health_reports_every_dependency_connected(http):
    response = http.get(f"{BASE}/health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["database"] == "connected"
    assert body["cache"] == "connected"
    assert isinstance(body["version"], str) and body["version"]


def test_create_returns_201_the_item_and_its_public_url(http):
    response = http.post(
        f"{BASE}/api/items", json={"name": "widget", "description": None}, timeout=10
    )
    assert response.status_code == 201
    item = response.json()
    assert set(item) == ITEM_KEYS
    assert item["name"] == "widget" and item["description"] is None
    assert ISO_UTC.match(item["created_at"]) and ISO_UTC.match(item["updated_at"])
    assert response.headers["Location"] == f"https://localhost:{HTTPS_PORT}/api/items/{item['id']}"
    fetched = http.get(response.headers["Location"], timeout=10)
    assert fetched.status_code == 200
    assert fetched.json() == item


def test_list_is_newest_first_with_total_limit_and_offset(http):
    first, second, third = (create(http) for _ in range(3))
    page = http.get(f"{BASE}/api/items?limit=2&offset=0", timeout=10).json()
    assert page["limit"] == 2 and page["offset"] == 0
    assert [i["id"] for i in page["items"]] == [third["id"], second["id"]]
    assert page["total"] >= 3
    next_page = http.get(f"{BASE}/api/items?limit=2&offset=2", timeout=10).json()
    assert next_page["items"][0]["id"] == first["id"]
    assert next_page["total"] == page["total"]


def test_patch_changes_the_given_fields_and_a_read_after_it_is_never_stale(http):
    item = create(http, description="before")
    url = f"{BASE}/api/items/{item['id']}"
    assert http.get(url, timeout=10).json()["description"] == "before"  # now cached
    assert http.get(url, timeout=10).json()["description"] == "before"
    patched = http.patch(url, json={"description": "after"}, timeout=10)
    assert patched.status_code == 200
    assert patched.json()["description"] == "after"
    assert patched.json()["name"] == item["name"]
    assert http.get(url, timeout=10).json()["description"] == "after"


def test_delete_returns_204_and_the_item_is_gone_even_if_it_was_cached(http):
    item = create(http)
    url = f"{BASE}/api/items/{item['id']}"
    http.get(url, timeout=10)
    deleted = http.delete(url, timeout=10)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(http.get(url, timeout=10), 404)
    assert_error(http.delete(url, timeout=10), 404)


def test_malformed_json_is_400(http):
    response = http.post(
        f"{BASE}/api/items",
        data="{not json",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert_error(response, 400)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": 42}, "name"),
        ({"name": "ok", "description": "d" * 2001}, "description"),
        ({"name": "ok", "description": 7}, "description"),
        ({"name": "ok", "colour": "red"}, "colour"),
    ],
)
def test_validation_errors_are_422_and_name_the_field(http, body, field):
    assert_error(http.post(f"{BASE}/api/items", json=body, timeout=10), 422, field)


@pytest.mark.parametrize("path", ["/api/items/999999999", "/api/nothing-here", "/api/items/abc"])
def test_unknown_resources_and_routes_are_404_json(http, path):
    assert_error(http.get(f"{BASE}{path}", timeout=10), 404)


# nginx refuses TRACE itself before any route; the edge hands it to the app, for the route's Allow.
@pytest.mark.parametrize(
    ("method", "path"), [("PUT", "/api/items"), ("POST", "/api/stats"), ("TRACE", "/api/items")]
)
def test_wrong_method_is_405_json(http, method, path):
    response = http.request(method, f"{BASE}{path}", json={}, timeout=10)
    assert_error(response, 405)
    assert "Allow" in response.headers
