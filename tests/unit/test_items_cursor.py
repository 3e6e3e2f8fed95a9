"""The items list's total from the counter the database keeps, and keyset pagination by cursor:
parsing, refusals, the page's shape, and pages that do not shift when rows are added."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, strategies as st

from app.extensions import db
from app.items.cursor import (
    CURSOR_MAX,
    CURSOR_PATTERN,
    EPOCH,
    FIRST,
    LAST,
    ONE_MICROSECOND,
    Position,
    decode_cursor,
    encode_cursor,
)
from app.items.models import MAX_ID
from tests.unit.conftest import ItemFactory

pytestmark = pytest.mark.unit


def page(client: FlaskClient, query: str) -> dict:
    response = client.get(f"/api/items?{query}")
    assert response.status_code == 200, response.get_json()
    body: dict = response.get_json()
    return body


def error_of(client: FlaskClient, query: str) -> dict:
    response = client.get(f"/api/items?{query}")
    assert response.status_code == 422, response.get_json()
    error: dict = response.get_json()["error"]
    return error


def make_ids(client: FlaskClient, make_item: ItemFactory, count: int, label: str) -> list[int]:
    """COUNT new items; the ids of the whole list, newest first."""
    for n in range(count):
        make_item(f"{label} {n}")
    return [item["id"] for item in page(client, "limit=100")["items"]]


# --- The cursor itself ---------------------------------------------------------------------


def test_a_cursor_names_its_rows_key_and_reads_back() -> None:
    moment = datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC)
    cursor = encode_cursor(moment, 42)
    assert cursor == "1795860000123456.42"
    assert decode_cursor(cursor) == Position(moment, 42)
    naive = moment.replace(tzinfo=None)  # a naive time is taken as UTC
    assert encode_cursor(naive, 42) == cursor
    before_1970 = datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert decode_cursor(encode_cursor(before_1970, 7)) == Position(before_1970, 7)


@given(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)),
    st.integers(min_value=1, max_value=MAX_ID),
)
def test_every_rows_cursor_reads_back_and_matches_the_published_pattern(
    moment: datetime, item_id: int
) -> None:
    cursor = encode_cursor(moment.replace(tzinfo=UTC), item_id)
    assert re.fullmatch(CURSOR_PATTERN.strip("^$"), cursor) and len(cursor) <= CURSOR_MAX
    assert decode_cursor(cursor) == Position(moment.replace(tzinfo=UTC), item_id)


@given(st.from_regex(CURSOR_PATTERN, fullmatch=True))
def test_every_string_the_published_pattern_allows_is_a_position(raw: str) -> None:
    """schemathesis sends such strings and expects them accepted (positive data)."""
    position = decode_cursor(raw)
    assert position is not None
    assert FIRST <= position.created_at <= LAST and 0 <= position.id <= MAX_ID


@pytest.mark.parametrize(
    "raw",
    [
        "abc", "1", "1.", ".1", "1.2.3", "1,2", " 1.2", "1.2 ", "1.2\n", "+1.2", "1.-2",
        "\uff11.\uff12", "1.2" + "0" * 40, "12345678901234567890.1", "%00",
        "MTc5NTg2MDAwMDEyMzQ1Ni40Mg",
    ],
)  # fmt: skip
def test_what_is_not_a_cursor_is_refused(raw: str) -> None:
    assert decode_cursor(raw) is None


def test_positions_beyond_a_timestamp_or_a_bigint_are_clamped_not_errors() -> None:
    assert decode_cursor(f"{10**18}.1") == Position(LAST, MAX_ID)
    assert decode_cursor(f"-{10**18}.1") == Position(FIRST, 0)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    after_every_id = decode_cursor(f"{encode_cursor(moment, 1).split('.')[0]}.{10**19 - 1}")
    assert after_every_id == Position(datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC), 0)


def test_the_bounds_themselves_are_positions_and_one_step_beyond_is_clamped() -> None:
    """The first and last microsecond a timestamp holds keep their id; one past is clamped;
    the longest string the pattern allows (40 characters) is read, not refused."""
    last, first = (LAST - EPOCH) // ONE_MICROSECOND, (FIRST - EPOCH) // ONE_MICROSECOND
    assert decode_cursor(f"{last}.5") == Position(LAST, 5)
    assert decode_cursor(f"{last + 1}.5") == Position(LAST, MAX_ID)
    assert decode_cursor(f"{last}.{MAX_ID + 1}") == Position(LAST, MAX_ID)
    assert decode_cursor(f"{first}.5") == Position(FIRST, 5)
    assert decode_cursor(f"{first - 1}.5") == Position(FIRST, 0)
    longest = "-" + "9" * 19 + "." + "9" * 19
    assert len(longest) == CURSOR_MAX
    assert decode_cursor(longest) == Position(FIRST, 0)


# --- Through the API -----------------------------------------------------------------------


def test_every_page_has_next_cursor_null_on_the_last(
    client: FlaskClient, make_item: ItemFactory
) -> None:
    assert page(client, "")["next_cursor"] is None  # empty list
    for n in range(5):
        make_item(f"item {n}")
    first = page(client, "limit=2")
    assert set(first) == {"items", "total", "limit", "offset", "next_cursor"}
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    assert isinstance(first["next_cursor"], str)
    assert page(client, "limit=5")["next_cursor"] is None  # exactly the rest: no next page
    assert page(client, "limit=4")["next_cursor"] is not None


def test_pages_by_cursor_walk_the_list_in_order_as_offset_does(
    client: FlaskClient, make_item: ItemFactory
) -> None:
    for n in range(7):
        make_item(f"item {n}")
    by_offset = page(client, "limit=100")["items"]
    seen: list[dict] = []
    body = page(client, "limit=3")
    while True:
        seen.extend(body["items"])
        assert body["total"] == 7
        if body["next_cursor"] is None:
            break
        body = page(client, f"limit=3&cursor={body['next_cursor']}")
        assert body["offset"] == 0
    assert seen == by_offset
    assert len(by_offset) == 7
    # An offset page's cursor continues where that page ends.
    middle = page(client, "limit=2&offset=2")
    assert page(client, f"limit=2&cursor={middle['next_cursor']}")["items"] == by_offset[4:6]


def test_rows_added_after_a_cursor_do_not_shift_the_pages(
    client: FlaskClient, make_item: ItemFactory
) -> None:
    everything = make_ids(client, make_item, 6, "old")
    first = page(client, "limit=3")
    for n in range(4):
        make_item(f"new {n}")
    second = page(client, f"limit=3&cursor={first['next_cursor']}")
    assert [item["id"] for item in second["items"]] == everything[3:6]
    assert second["total"] == 10 and second["next_cursor"] is None


def test_an_empty_cursor_is_no_cursor_and_offset_zero_goes_with_one(
    client: FlaskClient, make_item: ItemFactory
) -> None:
    for n in range(3):
        make_item(f"item {n}")
    assert page(client, "cursor=&offset=1")["offset"] == 1
    cursor = page(client, "limit=1")["next_cursor"]
    assert len(page(client, f"cursor={cursor}&offset=0")["items"]) == 2


@pytest.mark.parametrize("raw", ["abc", "1.2.3", "%E2%82%AC", "1" * 50 + ".1", "-.1"])
def test_a_malformed_cursor_is_422_naming_cursor(client: FlaskClient, raw: str) -> None:
    error = error_of(client, f"cursor={raw}")
    assert error == {
        "code": "validation_error",
        "message": "'cursor' is not a cursor this API gave: pass a page's 'next_cursor' as is.",
        "field": "cursor",
    }


def test_with_a_cursor_the_offset_counts_from_its_position(
    client: FlaskClient, make_item: ItemFactory
) -> None:
    everything = make_ids(client, make_item, 8, "item")
    cursor = page(client, "limit=2")["next_cursor"]
    skipped = page(client, f"limit=3&cursor={cursor}&offset=3")
    assert [item["id"] for item in skipped["items"]] == everything[5:8]
    assert (skipped["offset"], skipped["next_cursor"]) == (3, None)


def test_a_bad_limit_or_offset_beside_a_cursor_is_named(client: FlaskClient) -> None:
    assert error_of(client, "cursor=1795860000123456.42&offset=-1")["field"] == "offset"
    # A bad limit is named before the cursor is read.
    assert error_of(client, "cursor=1795860000123456.42&limit=0")["field"] == "limit"


# --- The total from the counter ------------------------------------------------------------


def count_rows(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.text("SELECT count(*) FROM items")))


def test_the_total_is_the_counter_the_triggers_keep_not_a_count(
    app: Flask, client: FlaskClient, make_item: ItemFactory
) -> None:
    ids = [make_item(f"item {n}")["id"] for n in range(4)]
    assert client.delete(f"/api/items/{ids[0]}").status_code == 204
    assert page(client, "")["total"] == 3 == count_rows(app)
    with app.app_context():
        # Rows written beside the API are counted too; the counter, not count(*), is read.
        db.session.execute(sa.text("INSERT INTO items (name) VALUES ('by hand'), ('by hand')"))
        db.session.execute(sa.text("DELETE FROM items WHERE id = :id"), {"id": ids[1]})
        db.session.commit()
        db.session.execute(sa.text("UPDATE items_count SET n = n + 100"))
        db.session.commit()
    assert page(client, "")["total"] == 104
    assert client.get("/api/stats").get_json()["total_items"] == 104
