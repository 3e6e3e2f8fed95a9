"""The items list at any size: `total` exact after every acknowledged write, from the counter
Postgres keeps (app/items/counter.py), and keyset pages by `cursor` that do not shift while
rows are added."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.contract import assert_error
from tests.support.edge import BASE, new_session
from tests.support.imports import import_items, post_import, wait_finished
from tests.support.settings import POSTGRES_DB, POSTGRES_USER
from tests.support.stack import compose, psql

pytestmark = pytest.mark.exclusive

WRITERS = 4
ROUNDS = 12  # per writer: a create, a read, and every other round a delete and a read
IMPORTED = 120
PAGE = 100  # rows per page of the cursor walk (the most a page holds)
WALKED = 3000  # the newest rows the cursor walk covers


def rows() -> int:
    return int(psql("SELECT count(*) FROM items"))


def api_total(session) -> int:
    response = session.get(f"{BASE}/api/items?limit=1", timeout=10)
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


class Tally:
    """Writes started and acknowledged so far, across threads: every total read between two
    moments lies within what those writes allow."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.lock = threading.Lock()
        self.added_started = self.added_done = self.removed_started = self.removed_done = 0
        self.violations: list[str] = []

    def add(self, field: str, count: int) -> None:
        with self.lock:
            setattr(self, field, getattr(self, field) + count)

    def read(self, session) -> None:
        with self.lock:
            added_done, removed_done = self.added_done, self.removed_done
        total = api_total(session)
        with self.lock:
            added_started, removed_started = self.added_started, self.removed_started
        low = self.base + added_done - removed_started
        high = self.base + added_started - removed_done
        if not low <= total <= high:
            with self.lock:
                self.violations.append(f"total {total} outside [{low}, {high}]")


def test_the_total_stays_exact_under_concurrent_creates_deletes_imports_and_reads():
    """Writers create, delete and read at once while an import writes its items in batches;
    each total read lies between what the acknowledged writes and the started ones allow, and
    at the end it is the table's real row count."""
    tally = Tally(rows())

    def writer(number: int) -> None:
        with new_session() as session:
            for round_ in range(ROUNDS):
                tally.add("added_started", 1)
                response = session.post(
                    f"{BASE}/api/items", json={"name": f"w{number} r{round_}"}, timeout=10
                )
                assert response.status_code == 201, response.text
                tally.add("added_done", 1)
                tally.read(session)
                if round_ % 2:
                    tally.add("removed_started", 1)
                    item_id = response.json()["id"]
                    deleted = session.delete(f"{BASE}/api/items/{item_id}", timeout=10)
                    assert deleted.status_code == 204, deleted.text
                    tally.add("removed_done", 1)
                    tally.read(session)

    def importer() -> None:
        with new_session() as session:
            tally.add("added_started", IMPORTED)
            response = post_import(session, import_items(IMPORTED, f"total {uuid.uuid4().hex}"))
            assert response.status_code == 202, response.text
            assert wait_finished(session, response.json()["id"])["status"] == "succeeded"
            tally.add("added_done", IMPORTED)
            tally.read(session)

    with ThreadPoolExecutor(WRITERS + 1) as pool:
        futures = [pool.submit(writer, n) for n in range(WRITERS)] + [pool.submit(importer)]
        for future in futures:
            future.result(timeout=300)
    assert tally.violations == []
    expected = tally.base + WRITERS * ROUNDS - WRITERS * (ROUNDS // 2) + IMPORTED
    with new_session() as session:
        assert api_total(session) == rows() == expected


def test_rows_written_and_truncated_beside_the_api_are_counted():
    """psql's writes fire the same triggers: a multi-row INSERT, a DELETE, and a TRUNCATE (in a
    transaction rolled back, so no other test's rows are lost)."""
    tag = f"sql {uuid.uuid4().hex}"
    before = rows()
    psql(f"INSERT INTO items (name) SELECT '{tag}' FROM generate_series(1, 50)")
    psql(f"DELETE FROM items WHERE id IN (SELECT id FROM items WHERE name = '{tag}' LIMIT 20)")
    with new_session() as session:
        assert api_total(session) == rows() == before + 30
    statements = [
        "BEGIN", "TRUNCATE items", "INSERT INTO items (name) VALUES ('x'), ('y')",
        "SELECT coalesce(sum(n), 0) FROM items_count", "ROLLBACK",
    ]  # fmt: skip
    inside = compose(
        "exec", "-T", "postgres", "psql", "-U", POSTGRES_USER, "-d", POSTGRES_DB, "-Atq",
        "-v", "ON_ERROR_STOP=1", *(arg for sql in statements for arg in ("-c", sql)),
    ).stdout.split()  # fmt: skip
    assert inside == ["2"]
    with new_session() as session:
        assert api_total(session) == rows() == before + 30


def test_paging_by_cursor_while_inserting_returns_every_existing_row_exactly_once(http):
    """The newest WALKED rows, walked page by page with rows inserted between pages: each seen
    once, none skipped, newest first. (The suite before may have written tens of thousands:
    imports, the bench, the fuzzers; the walk covers a window of them, the newest.)"""
    for start in range(0, 60, 30):  # at least 60 rows of this test's own in the window
        psql(f"INSERT INTO items (name) SELECT 'walk ' || g FROM generate_series({start}, "
             f"{start + 29}) g")  # fmt: skip
    newest = psql(f"SELECT id FROM items ORDER BY created_at DESC, id DESC LIMIT {WALKED}")
    existing = {int(line) for line in newest.split()}
    seen: list[int] = []
    keys: list[tuple[str, int]] = []
    url = f"{BASE}/api/items?limit={PAGE}"
    for number in range(len(existing) // PAGE + 100):
        response = http.get(url, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["offset"] == 0
        seen += [item["id"] for item in body["items"]]
        keys += [(item["created_at"], item["id"]) for item in body["items"]]
        # New rows between pages: newer than every cursor, so on no later page.
        if number % 3 == 0:
            assert http.post(f"{BASE}/api/items", json={"name": "during"}, timeout=10).ok
        if body["next_cursor"] is None or existing <= set(seen):
            break
        url = f"{BASE}/api/items?limit={PAGE}&cursor={body['next_cursor']}"
    else:
        pytest.fail("the walk never got past the window's oldest row")
    assert len(seen) == len(set(seen)), "a row came twice"
    assert existing <= set(seen), f"rows never seen: {sorted(existing - set(seen))[:10]}"
    assert keys == sorted(keys, reverse=True), "not newest first"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=1.2.3", "cursor"),
        ("cursor=%27%3B%20DROP%20TABLE%20items", "cursor"),
        ("cursor=" + "9" * 100 + ".1", "cursor"),
        ("cursor=1795860000123456.42&offset=-1", "offset"),
    ],
)
def test_a_bad_cursor_is_a_json_422_naming_the_field(http, query, field):
    assert_error(http.get(f"{BASE}/api/items?{query}", timeout=10), 422, field)


def test_a_cursor_page_past_the_end_is_empty_with_no_next_cursor(http):
    # A cursor from before every row: the list's end, at once.
    body = http.get(f"{BASE}/api/items?cursor=-9999999999999999.1", timeout=10).json()
    assert (body["items"], body["offset"], body["next_cursor"]) == ([], 0, None)
    first = http.get(f"{BASE}/api/items?limit=1", timeout=10).json()
    assert first["next_cursor"] is not None or first["total"] <= 1
