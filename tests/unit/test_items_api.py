"""The items API: CRUD, pagination and its bounds, ordering, the public Location URL, the
sentence of every refusal, and timestamps in UTC."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.items.models import MAX_ID, Item
from app.utc_time import iso_utc
from tests.unit.conftest import ItemFactory
from tests.unit.test_cache import cache_count
from tests.unit.test_errors import error_of

pytestmark = pytest.mark.unit

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def set_created_at(app: Flask, item_id: int, moment: datetime) -> None:
    with app.app_context():
        db.session.get(Item, item_id).created_at = moment
        db.session.commit()


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


PROXIED = {  # what nginx sends, and the public address the app must answer with
    "port and client": (
        {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "localhost:8443",
         "X-Forwarded-Port": "8443", "X-Forwarded-For": "203.0.113.9"},
        "https://localhost:8443",
    ),
    "host and prefix": (
        {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "items.example.org",
         "X-Forwarded-Port": "443", "X-Forwarded-Prefix": "/shop"},
        "https://items.example.org/shop",
    ),
}  # fmt: skip


@pytest.mark.parametrize("headers, public", PROXIED.values(), ids=PROXIED.keys())
def test_location_is_the_public_url_behind_the_proxy(
    client: FlaskClient, headers: dict[str, str], public: str
) -> None:
    response = client.post("/api/items", json={"name": "Proxied"}, headers=headers)
    assert response.status_code == 201
    item_id = response.get_json()["id"]
    assert response.headers["Location"] == f"{public}/api/items/{item_id}"


def test_description_is_optional_and_may_be_null(client: FlaskClient) -> None:
    assert client.post("/api/items", json={"name": "a"}).get_json()["description"] is None
    body = {"name": "b", "description": None}
    assert client.post("/api/items", json=body).get_json()["description"] is None


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "name", "'name' is required."),
        ({"name": "  "}, "name", "'name' must not be empty."),
        ({"name": None}, "name", "'name' must be a string, not null."),
        ({"name": 5}, "name", "'name' must be a string."),
        ({"name": "x" * 201}, "name", "'name' must be at most 200 characters."),
        ({"name": "a\x00b"}, "name", "'name' must not contain NUL characters."),
        ({"name": "\ud800"}, "name", "'name' must be valid Unicode text."),
        ({"name": "ok", "colour": "red"}, "colour", "Unknown field 'colour'."),
    ],
)
def test_each_refused_body_says_what_is_wrong(
    client: FlaskClient, body: dict[str, Any], field: str, message: str
) -> None:
    error = error_of(client.post("/api/items", json=body))
    assert error == {"code": "validation_error", "message": message, "field": field}


@pytest.mark.parametrize(
    ("data", "content_type", "status", "message"),
    [
        ('{"name": "x"}', "text/plain", 415, "The request body must be JSON (application/json)."),
        ('{"name": ', "application/json", 400, "The request body is not valid JSON."),
        ('{"name": NaN}', "application/json", 400, "The request body is not valid JSON."),
        ("[1]", "application/json", 422, "The request body must be a JSON object."),
    ],
)
def test_an_unreadable_body_says_what_is_wrong(
    client: FlaskClient, data: str, content_type: str, status: int, message: str
) -> None:
    response = client.post("/api/items", data=data, content_type=content_type)
    assert response.status_code == status
    assert error_of(response)["message"] == message


def test_get_returns_the_item(client: FlaskClient, make_item: ItemFactory) -> None:
    item = make_item("Readable", "text")
    response = client.get(f"/api/items/{item['id']}")
    assert response.status_code == 200
    assert response.get_json() == item


def test_a_second_read_is_served_from_the_cache_not_the_database(
    app: Flask, client: FlaskClient, make_item: ItemFactory
) -> None:
    item = make_item("cached name")
    client.get(f"/api/items/{item['id']}")
    with app.app_context():  # behind the app's back: no invalidation
        db.session.get(Item, item["id"]).name = "changed in the database"
        db.session.commit()
    assert client.get(f"/api/items/{item['id']}").get_json()["name"] == "cached name"


def test_the_largest_id_can_be_read(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        db.session.add(Item(id=MAX_ID, name="last"))
        db.session.commit()
    response = client.get(f"/api/items/{MAX_ID}")
    assert response.status_code == 200
    assert response.get_json()["name"] == "last"
    assert client.patch(f"/api/items/{MAX_ID}", json={"name": "renamed"}).status_code == 200


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


def test_a_patch_can_set_and_clear_the_description(
    client: FlaskClient, make_item: ItemFactory
) -> None:
    item = make_item(description=None)
    path = f"/api/items/{item['id']}"
    assert client.patch(path, json={"description": "Blue"}).get_json()["description"] == "Blue"
    assert client.patch(path, json={"description": None}).get_json()["description"] is None
    too_long = client.patch(path, json={"description": "d" * 2001})
    assert error_of(too_long)["message"] == "'description' must be at most 2000 characters."


def test_a_patch_that_changes_nothing_keeps_the_cached_item(
    app: Flask, client: FlaskClient, make_item: ItemFactory
) -> None:
    item = make_item("same")
    path = f"/api/items/{item['id']}"
    client.get(path)  # cached
    assert client.patch(path, json={"name": "same"}).get_json() == item
    hits = cache_count(app, "hit")
    client.get(path)
    assert cache_count(app, "hit") == hits + 1


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


def test_the_list_is_newest_first_then_highest_id_first(
    app: Flask, client: FlaskClient, make_item: ItemFactory
) -> None:
    assert client.get("/api/items").get_json()["total"] == 0
    first, second, third = make_item("first"), make_item("second"), make_item("third")
    same_moment = datetime(2030, 1, 1, tzinfo=UTC)
    set_created_at(app, first["id"], same_moment)
    set_created_at(app, third["id"], same_moment)
    set_created_at(app, second["id"], datetime(2031, 1, 1, tzinfo=UTC))
    names = [i["name"] for i in client.get("/api/items").get_json()["items"]]
    assert names == ["second", "third", "first"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("limit", 1), ("limit", 100), ("offset", 0), ("offset", 10**18), ("offset", 2**63 - 1)],
)
def test_list_parameters_at_their_edges_are_accepted(
    client: FlaskClient, name: str, value: int
) -> None:
    response = client.get(f"/api/items?{name}={value}")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()[name] == value


def test_empty_paging_parameters_mean_the_defaults(client: FlaskClient) -> None:
    response = client.get("/api/items?limit=&offset=")
    assert response.status_code == 200
    assert (response.get_json()["limit"], response.get_json()["offset"]) == (20, 0)


def test_list_parameters_say_their_range(client: FlaskClient) -> None:
    limit = error_of(client.get("/api/items?limit=0"))
    assert limit["message"] == "'limit' must be an integer from 1 to 100."
    offset = error_of(client.get("/api/items?offset=x"))
    assert offset["message"] == f"'offset' must be an integer from 0 to {2**63 - 1}."


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


@pytest.fixture
def tokyo_time() -> Iterator[None]:
    """The process's local time zone is UTC+9 (a POSIX TZ string: no tz database needed)."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "JST-9"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


def seconds_from_now(stamp: str) -> float:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return abs((moment - datetime.now(UTC)).total_seconds())


@pytest.mark.usefixtures("tokyo_time")
def test_timestamps_are_utc_whatever_the_servers_time_zone(
    client: FlaskClient, make_item: ItemFactory
) -> None:
    item = make_item()
    assert seconds_from_now(item["created_at"]) < 60
    stats = client.get("/api/stats").get_json()
    assert seconds_from_now(stats["newest_item_at"]) < 60
    assert seconds_from_now(stats["generated_at"]) < 60
    noon_in_tokyo = datetime(2030, 1, 1, 12, tzinfo=timezone(timedelta(hours=9)))
    assert iso_utc(noon_in_tokyo) == "2030-01-01T03:00:00.000000Z"
    assert iso_utc(datetime(2030, 1, 1, 12)) == "2030-01-01T12:00:00.000000Z"  # naive: UTC
