"""The contract's bulk import, over the published HTTPS port: accepted with 202 and the
import's public URL, applied by the worker, every item once; invalid items named by index
and field; unknown imports 404. Run against the Compose and the Swarm stack alike."""

from __future__ import annotations

import uuid

import pytest

from tests.support.contract import ISO_UTC, assert_error
from tests.support.edge import BASE
from tests.support.imports import import_items, post_import, wait_finished
from tests.support.settings import HTTPS_PORT

IMPORT_KEYS = {"id", "status", "total", "done", "error", "created_at", "finished_at"}


def test_an_import_is_accepted_with_202_and_applied_by_the_worker(http):
    tag = f"contract-{uuid.uuid4().hex[:8]}"
    response = post_import(http, import_items(25, tag))
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert set(accepted) == IMPORT_KEYS
    assert accepted["status"] in ("queued", "running", "succeeded")
    assert accepted["total"] == 25 and accepted["error"] is None
    assert ISO_UTC.match(accepted["created_at"])
    location = f"https://localhost:{HTTPS_PORT}/api/imports/{accepted['id']}"
    assert response.headers["Location"] == location
    body = wait_finished(http, accepted["id"], timeout=90)
    assert (body["status"], body["done"], body["total"]) == ("succeeded", 25, 25)
    assert ISO_UTC.match(body["finished_at"])
    # Reads after it has succeeded see its items: the newest 25 are the import's.
    page = http.get(f"{BASE}/api/items?limit=100", timeout=10).json()
    names = [item["name"] for item in page["items"] if item["name"].startswith(tag + " ")]
    assert sorted(names) == sorted(f"{tag} {n}" for n in range(25))


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([{"name": "fine"}, {"name": "fine"}, {"description": "no name"}], "items[2].name"),
        ([{"name": "fine"}, {"name": 7}], "items[1].name"),
        ([{"name": "x", "colour": "red"}], "items[0].colour"),
    ],
)
def test_an_invalid_item_gets_422_naming_its_index_and_field(http, items, field):
    assert_error(post_import(http, items), 422, field=field)


@pytest.mark.parametrize("count", [0, 5001])
def test_an_import_outside_1_to_5000_items_gets_422(http, count):
    assert_error(post_import(http, import_items(count, "size")), 422, field="items")


def test_an_unknown_import_is_404(http):
    response = http.get(f"{BASE}/api/imports/{uuid.uuid4()}", timeout=10)
    assert_error(response, 404)
