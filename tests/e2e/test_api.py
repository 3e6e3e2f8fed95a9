"""The Items API, health and error table of the contract, through nginx."""

from __future__ import annotations

import uuid

import pytest

from tests.support.contract import assert_error, create
from tests.support.edge import BASE
from tests.support.stack import cache_entry, json_log_lines, wait_for

# --- Health ------------------------------------------------------------------------------


# --- Items -------------------------------------------------------------------------------


def test_item_reads_are_cached_in_redis_and_writes_invalidate_them(http):
    item = create(http)
    key = f"item:{item['id']}"
    http.get(f"{BASE}/api/items/{item['id']}", timeout=10)
    entry = cache_entry(key)
    assert entry and entry["v"] == item, "the item read was not cached, as JSON"
    http.patch(f"{BASE}/api/items/{item['id']}", json={"name": "renamed"}, timeout=10)
    assert cache_entry(key) is None, "a write left a stale entry"


@pytest.mark.exclusive
def test_stats_are_cached_and_a_write_refreshes_them(http):
    first = http.get(f"{BASE}/api/stats", timeout=10)
    assert first.status_code == 200
    again = http.get(f"{BASE}/api/stats", timeout=10).json()
    assert again == first.json(), "stats were recomputed instead of served from the cache"
    assert cache_entry("stats")["v"] == first.json()
    total = first.json()["total_items"]
    create(http)
    after = http.get(f"{BASE}/api/stats", timeout=10).json()
    assert after["total_items"] == total + 1


# --- Error table -------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_is_415(http, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = http.post(f"{BASE}/api/items", data="name=x", headers=headers, timeout=10)
    assert_error(response, 415)


def test_patch_validates_too(http):
    item = create(http)
    url = f"{BASE}/api/items/{item['id']}"
    assert_error(http.patch(url, json={"name": ""}, timeout=10), 422, "name")
    assert_error(http.patch(url, json={"id": 5}, timeout=10), 422, "id")


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "limit=101", "offset=-1"])
def test_bad_paging_parameters_are_422(http, query):
    assert_error(http.get(f"{BASE}/api/items?{query}", timeout=10), 422)


def test_a_huge_id_is_404_not_500(http):
    assert_error(http.get(f"{BASE}/api/items/{10**30}", timeout=10), 404)


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
