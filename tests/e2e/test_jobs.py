"""Background jobs on the running stack: bulk imports applied exactly once through worker
crashes and broker restarts, the periodic job once per period, the worker's healthcheck, the
broker's outage answered with 503 (issue: background jobs; the contract's "Bulk import")."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from tests.support.edge import BASE
from tests.support.imports import import_items, post_import, wait_finished
from tests.support.stack import (
    compose,
    json_log_lines,
    overridden,
    psql,
    service_health,
    wait_for,
    wait_healthy,
)


def written(import_id: str) -> tuple[int, int]:
    """(rows, distinct positions) the import wrote into items."""
    rows, positions = psql(
        "SELECT count(*), count(DISTINCT import_position) FROM items "
        f"WHERE import_id = '{import_id}'"
    ).split("|")
    return int(rows), int(positions)


def imports_in_database() -> int:
    return int(psql("SELECT count(*) FROM imports"))


def test_300_items_are_imported_each_exactly_once_and_readable(http):
    tag = f"three-hundred-{uuid.uuid4().hex[:8]}"
    response = post_import(http, import_items(300, tag))
    assert response.status_code == 202, response.text
    body = wait_finished(http, response.json()["id"], timeout=60)
    assert (body["status"], body["done"], body["total"]) == ("succeeded", 300, 300)
    assert written(body["id"]) == (300, 300)
    ids = psql(f"SELECT id FROM items WHERE import_id = '{body['id']}' ORDER BY import_position")
    ids = ids.split()
    for position in (0, 150, 299):
        item = http.get(f"{BASE}/api/items/{ids[position]}", timeout=10).json()
        assert item["name"] == f"{tag} {position}"


FAULT = "e2e_slow_insert"


def remove_fault() -> None:
    psql(f"DROP TRIGGER IF EXISTS {FAULT} ON items; DROP FUNCTION IF EXISTS {FAULT}()")
    # The killed worker's statement may still sleep: end it, its transaction rolls back.
    psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
         "WHERE query LIKE 'INSERT INTO items%' AND pid <> pg_backend_pid()")  # fmt: skip


@pytest.fixture
def slow_item_at_position_1500() -> Iterator[None]:
    """A fault in the real database: inserting the item at position 1500 of any import sleeps
    30 s, so a worker is caught mid-import with 1500 items written."""
    psql(
        f"CREATE OR REPLACE FUNCTION {FAULT}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF NEW.import_position = 1500 THEN PERFORM pg_sleep(30); END IF; "
        "RETURN NEW; END $$; "
        f"CREATE TRIGGER {FAULT} BEFORE INSERT ON items "
        f"FOR EACH ROW EXECUTE FUNCTION {FAULT}()"
    )
    try:
        yield
    finally:
        remove_fault()


def test_a_worker_killed_mid_import_leaves_each_item_exactly_once(http, slow_item_at_position_1500):
    response = post_import(http, import_items(3000, f"killed-{uuid.uuid4().hex[:8]}"))
    assert response.status_code == 202, response.text
    import_id = response.json()["id"]

    def caught_mid_import() -> bool:
        body = http.get(f"{BASE}/api/imports/{import_id}", timeout=10).json()
        return body["status"] == "running" and body["done"] == 1500

    wait_for(caught_mid_import, 60, 0.5, "the import running with 1500 items done")
    compose("kill", "-s", "SIGKILL", "worker")
    remove_fault()
    compose("start", "worker")
    # The job its dead worker held goes back to the queue after JOB_VISIBILITY_TIMEOUT (60 s).
    body = wait_finished(http, import_id, timeout=180)
    assert (body["status"], body["done"], body["total"]) == ("succeeded", 3000, 3000), body
    assert written(import_id) == (3000, 3000)
    assert int(psql(f"SELECT attempts FROM imports WHERE id = '{import_id}'")) == 2


def test_jobs_queued_when_the_broker_restarts_all_run_after_it(http):
    compose("stop", "worker")
    try:
        responses = [post_import(http, import_items(20, f"restart-{n}")) for n in range(3)]
        assert [r.status_code for r in responses] == [202, 202, 202]
        compose("restart", "broker")
        wait_healthy("broker")
    finally:
        compose("start", "worker")
    for response in responses:
        body = wait_finished(http, response.json()["id"], timeout=90)
        assert (body["status"], body["done"]) == ("succeeded", 20), body


def test_with_the_broker_stopped_an_import_gets_503_and_the_worker_turns_unhealthy(http):
    before = imports_in_database()
    compose("stop", "broker")
    try:
        response = post_import(http, import_items(5, "no-broker"))
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "queue_unavailable"
        assert imports_in_database() == before, "a refused import left a row behind"
        wait_for(lambda: service_health("worker") == "unhealthy", 120, 2, "worker unhealthy")
    finally:
        compose("start", "broker")
    wait_healthy("broker")
    wait_for(lambda: service_health("worker") == "healthy", 120, 2, "worker healthy again")
    response = post_import(http, import_items(5, "broker-back"))
    assert response.status_code == 202
    assert wait_finished(http, response.json()["id"], timeout=60)["status"] == "succeeded"


@pytest.fixture
def expiry_every_5_s() -> Iterator[None]:
    """The periodic job every 5 s, published by two schedulers at once."""
    settings = {"environment": {"IMPORT_EXPIRY_INTERVAL_SECONDS": "5"}}
    with overridden("worker", settings), overridden("scheduler", settings, scale=2):
        yield


def test_the_periodic_job_runs_every_period_once_though_two_schedulers_fire_it(expiry_every_5_s):
    started = psql("SELECT extract(epoch FROM now())::bigint")
    time.sleep(32)
    runs = psql(
        "SELECT period FROM periodic_runs WHERE job = 'imports.expire' "
        f"AND ran_at >= to_timestamp({started}) ORDER BY period"
    ).split()
    periods = [int(p) for p in runs]
    assert len(periods) >= 5, periods
    assert periods == list(range(periods[0], periods[0] + len(periods))), "a period was skipped"
    logs = [line for line in json_log_lines("worker", since="40s")
            if line.get("logger") == "app.imports.tasks"]  # fmt: skip
    ran = [line["period"] for line in logs if line["message"] == "jobs: imports.expire"]
    skipped = [line for line in logs if "already ran" in line["message"]]
    assert sorted(ran) == sorted(set(ran)), "a period's job ran twice"
    assert skipped, "the second scheduler never fired: the test proves nothing"
