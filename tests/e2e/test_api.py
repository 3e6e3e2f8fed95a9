"""The Items API, health and error table of the contract, through nginx."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.support.edge import BASE
from tests.support.settings import HTTPS_PORT
from tests.support.stack import json_log_lines, redis_cli, wait_for

ITEM_KEYS = {"id", "name", "description", "created_at", "updated_at"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


def create(http, name: str | None = None, description: str | None = "about it") -> dict:
    body = {"name": name or f"item {uuid.uuid4().hex[:8]}", "description": description}
    response = http.post(f"{BASE}/api/items", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def assert_error(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if field:
        assert error.get("field") == field
    lowered = response.text.lower()
    for leak in ("traceback", "werkzeug", "flask", "sqlalchemy", 'file "', "psycopg2"):
        assert leak not in lowered, f"{leak!r} leaked in a {status}"
    return error


# --- Health ------------------------------------------------------------------------------


def test_health_reports_every_dependency_connected(http):
    response = http.get(f"{BASE}/health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["database"] == "connected"
    assert body["cache"] == "connected"
    assert isinstance(body["version"], str) and body["version"]


# --- Items -------------------------------------------------------------------------------


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


def test_item_reads_are_cached_in_redis_and_writes_invalidate_them(http):
    item = create(http)
    key_pattern = f"*item:{item['id']}"
    http.get(f"{BASE}/api/items/{item['id']}", timeout=10)
    assert redis_cli("--scan", "--pattern", key_pattern), "the item read was not cached"
    http.patch(f"{BASE}/api/items/{item['id']}", json={"name": "renamed"}, timeout=10)
    assert redis_cli("--scan", "--pattern", key_pattern) == "", "a write left a stale entry"


def test_stats_are_cached_and_a_write_refreshes_them(http):
    first = http.get(f"{BASE}/api/stats", timeout=10)
    assert first.status_code == 200
    again = http.get(f"{BASE}/api/stats", timeout=10).json()
    assert again == first.json(), "stats were recomputed instead of served from the cache"
    assert redis_cli("--scan", "--pattern", "*stats")
    total = first.json()["total_items"]
    create(http)
    after = http.get(f"{BASE}/api/stats", timeout=10).json()
    assert after["total_items"] == total + 1


# --- Error table -------------------------------------------------------------------------


def test_malformed_json_is_400(http):
    response = http.post(
        f"{BASE}/api/items",
        data="{not json",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert_error(response, 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_is_415(http, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = http.post(f"{BASE}/api/items", data="name=x", headers=headers, timeout=10)
    assert_error(response, 415)


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


def test_patch_validates_too(http):
    item = create(http)
    url = f"{BASE}/api/items/{item['id']}"
    assert_error(http.patch(url, json={"name": ""}, timeout=10), 422, "name")
    assert_error(http.patch(url, json={"id": 5}, timeout=10), 422, "id")


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "limit=101", "offset=-1"])
def test_bad_paging_parameters_are_422(http, query):
    assert_error(http.get(f"{BASE}/api/items?{query}", timeout=10), 422)


@pytest.mark.parametrize("path", ["/api/items/999999999", "/api/nothing-here", "/api/items/abc"])
def test_unknown_resources_and_routes_are_404_json(http, path):
    assert_error(http.get(f"{BASE}{path}", timeout=10), 404)


def test_a_huge_id_is_404_not_500(http):
    assert_error(http.get(f"{BASE}/api/items/{10**30}", timeout=10), 404)


@pytest.mark.parametrize(("method", "path"), [("PUT", "/api/items"), ("POST", "/api/stats")])
def test_wrong_method_is_405_json(http, method, path):
    response = http.request(method, f"{BASE}{path}", json={}, timeout=10)
    assert_error(response, 405)
    assert "Allow" in response.headers


def test_each_request_is_logged_once_as_one_json_access_line(http):
    request_id = f"logged-once-{uuid.uuid4().hex}"
    response = http.get(f"{BASE}/api/items?limit=1", headers={"X-Request-ID": request_id})
    assert response.headers["X-Request-ID"] == request_id

    def lines() -> list[dict]:
        return [
            line for line in json_log_lines("app", "2m") if line.get("request_id") == request_id
        ]

    wait_for(lambda: len(lines()) >= 1, 10, 0.5, "the access line")
    [line] = lines()
    assert line["method"] == "GET" and line["path"] == "/api/items" and line["status"] == 200
    assert isinstance(line["duration_ms"], int | float)
    assert line["remote_addr"] and line["level"] == "INFO"


def test_empty_paging_parameters_mean_the_defaults(http):
    response = http.get(f"{BASE}/api/items?limit=&offset=", timeout=10)
    assert response.status_code == 200
    assert (response.json()["limit"], response.json()["offset"]) == (20, 0)


@pytest.mark.parametrize("path", ["/api", "/api/"])
def test_the_api_root_is_a_json_404_not_a_redirect(http, path):
    response = http.get(f"{BASE}{path}", allow_redirects=False, timeout=10)
    assert_error(response, 404)
