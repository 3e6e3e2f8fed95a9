"""The items API: CRUD, pagination, ordering and the public Location URL."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from tests.unit.conftest import ItemFactory

pytestmark = pytest.mark.unit

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_create_returns_201_with_the_item_and_its_location(client: FlaskClient) -> None:
    response = client.post("/api/items", json={"name": "Widget", "description": "Blue"})
    assert response.status_code == 201
    item = response.get_json()
    assert set(item) == {"id", "name", "description", "created_at", "updated_at"}
    assert item["name"] == "Widget"
    assert item["description"] == "Blue"
    assert ISO_UTC.match(item["created_at"])
    assert ISO_UTC.match(item["updated_at"])
    assert response.headers["Location"] == f"http://localhost/api/items/{item['id']}"


def test_location_is_the_public_https_url_behind_the_proxy(client: FlaskClient) -> None:
    headers = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "localhost:8443",
        "X-Forwarded-Port": "8443",
        "X-Forwarded-For": "203.0.113.9",
    }
    response = client.post("/api/items", json={"name": "Proxied"}, headers=headers)
    assert response.status_code == 201
    item_id = response.get_json()["id"]
    assert response.headers["Location"] == f"https://localhost:8443/api/items/{item_id}"


def test_description_is_optional_and_may_be_null(client: FlaskClient) -> None:
    assert client.post("/api/items", json={"name": "a"}).get_json()["description"] is None
    body = {"name": "b", "description": None}
    assert client.post("/api/items", json=body).get_json()["description"] is None


def test_get_returns_the_item(client: FlaskClient, make_item: ItemFactory) -> None:
    item = make_item("Readable", "text")
    response = client.get(f"/api/items/{item['id']}")
    assert response.status_code == 200
    assert response.get_json() == item


def test_patch_changes_only_the_given_fields(client: FlaskClient, make_item: ItemFactory) -> None:
    item = make_item("Before", "kept")
    response = client.patch(f"/api/items/{item['id']}", json={"name": "After"})
    assert response.status_code == 200
    changed = response.get_json()
    assert changed["name"] == "After"
    assert changed["description"] == "kept"
    assert changed["created_at"] == item["created_at"]
    assert changed["updated_at"] >= item["updated_at"]
    cleared = client.patch(f"/api/items/{item['id']}", json={"description": None}).get_json()
    assert cleared["description"] is None
    assert client.patch(f"/api/items/{item['id']}", json={}).get_json() == cleared


def test_delete_returns_204_and_the_item_is_gone(
    client: FlaskClient, make_item: ItemFactory
) -> None:
    item = make_item()
    response = client.delete(f"/api/items/{item['id']}")
    assert response.status_code == 204
    assert response.data == b""
    assert client.get(f"/api/items/{item['id']}").status_code == 404
    assert client.delete(f"/api/items/{item['id']}").status_code == 404


def test_list_is_newest_first_with_total_limit_and_offset(
    client: FlaskClient, make_item: ItemFactory
) -> None:
    ids = [make_item(f"item {n}")["id"] for n in range(5)]
    body = client.get("/api/items").get_json()
    assert body["total"] == 5
    assert body["limit"] == 20
    assert body["offset"] == 0
    assert [item["id"] for item in body["items"]] == ids[::-1]

    page = client.get("/api/items?limit=2&offset=1").get_json()
    assert [item["id"] for item in page["items"]] == [ids[3], ids[2]]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)

    beyond = client.get("/api/items?offset=50").get_json()
    assert beyond["items"] == []
    assert beyond["total"] == 5


def test_list_accepts_the_maximum_limit(client: FlaskClient) -> None:
    assert client.get("/api/items?limit=100").get_json()["limit"] == 100


def test_stats_aggregate_the_items(client: FlaskClient, make_item: ItemFactory) -> None:
    empty = client.get("/api/stats").get_json()
    assert empty["total_items"] == 0
    assert empty["newest_item_at"] is None
    assert empty["oldest_item_at"] is None
    assert ISO_UTC.match(empty["generated_at"])
    first = make_item("first")
    last = make_item("last")
    stats = client.get("/api/stats").get_json()
    assert stats["total_items"] == 2
    assert stats["oldest_item_at"] == first["created_at"]
    assert stats["newest_item_at"] == last["created_at"]


def test_empty_paging_parameters_mean_the_defaults(client: FlaskClient) -> None:
    response = client.get("/api/items?limit=&offset=")
    assert response.status_code == 200
    assert (response.get_json()["limit"], response.get_json()["offset"]) == (20, 0)
