"""Background jobs on the running stack: bulk imports applied exactly once through worker
crashes and a broker crash, the periodic job once per period, the worker's healthcheck, the
broker's outage answered with 503 (issue: background jobs; the contract's "Bulk import")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.edge import BASE
from tests.support.imports import import_items, post_import, wait_finished
from tests.support.settings import compose_config
from tests.support.stack import (
    compose,
    inspect,
    json_log_lines,
    psql,
    run_healthcheck,
    wait_for,
    wait_healthy,
)

pytestmark = pytest.mark.exclusive


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


def worker_setting(name: str) -> int:
    """One of the worker's job settings, as the running stack sets it (make test-e2e's
    tests/e2e/compose.timers.yaml shortens them)."""
    return int(compose_config()["services"]["worker"]["environment"][name])


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
    # The job its dead worker held goes back to the queue after JOB_VISIBILITY_TIMEOUT.
    visibility = worker_setting("JOB_VISIBILITY_TIMEOUT")
    body = wait_finished(http, import_id, timeout=visibility + 120)
    assert (body["status"], body["done"], body["total"]) == ("succeeded", 3000, 3000), body
    assert written(import_id) == (3000, 3000)
    assert int(psql(f"SELECT attempts FROM imports WHERE id = '{import_id}'")) == 2


def test_jobs_queued_when_the_broker_crashes_all_run_after_it(http):
    """The broker is killed (SIGKILL: no shutdown, nothing flushed on the way out) with three
    imports queued and no worker taking them: every acknowledged publish was already in its
    append-only file, so all three run once it is back."""
    compose("stop", "worker")
    try:
        responses = [post_import(http, import_items(20, f"crash-{n}")) for n in range(3)]
        assert [r.status_code for r in responses] == [202, 202, 202]
        compose("kill", "-s", "SIGKILL", "broker")
        assert inspect("broker")["State"]["ExitCode"] == 137, "the broker was not killed"
        compose("start", "broker")
        wait_healthy("broker")
    finally:
        compose("start", "worker")
    for response in responses:
        body = wait_finished(http, response.json()["id"], timeout=90)
        assert (body["status"], body["done"]) == ("succeeded", 20), body


def test_with_the_broker_stopped_an_import_gets_503_and_the_workers_check_fails(http):
    """The broker stopped: an import is refused with 503 and leaves nothing behind, and the
    worker's healthcheck (the command Docker runs) fails, saying why; with the broker back it
    passes again and imports run."""
    before = imports_in_database()
    compose("stop", "broker")
    try:
        response = post_import(http, import_items(5, "no-broker"))
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "queue_unavailable"
        assert imports_in_database() == before, "a refused import left a row behind"
        check = run_healthcheck("worker")
        assert check.returncode != 0, "the worker's check passed with the broker stopped"
        assert "healthcheck:" in check.stderr, check.stderr
    finally:
        compose("start", "broker")
    wait_healthy("broker")
    wait_for(lambda: run_healthcheck("worker").returncode == 0, 120, 1, "the worker's check")
    response = post_import(http, import_items(5, "broker-back"))
    assert response.status_code == 202
    assert wait_finished(http, response.json()["id"], timeout=60)["status"] == "succeeded"


@pytest.fixture
def two_schedulers() -> Iterator[None]:
    """A second scheduler beside the stack's own, each publishing the periodic job every
    IMPORT_EXPIRY_INTERVAL_SECONDS; back to one afterwards."""
    scale = ["up", "-d", "--no-deps", "--no-recreate", "--wait", "--wait-timeout", "60"]
    compose(*scale, "--scale", "scheduler=2", "scheduler")
    try:
        yield
    finally:
        compose(*scale, "--scale", "scheduler=1", "scheduler")


def expiry_runs_since(started: str) -> list[int]:
    """The periods of the expiry job that ran since STARTED (a Postgres epoch), in order."""
    runs = psql(
        "SELECT period FROM periodic_runs WHERE job = 'imports.expire' "
        f"AND ran_at >= to_timestamp({started}) ORDER BY period"
    )
    return [int(period) for period in runs.split()]


def task_lines(seconds: int) -> list[dict]:
    """The worker's log lines of the import tasks, of the last SECONDS."""
    lines = json_log_lines("worker", since=f"{seconds}s")
    return [line for line in lines if line.get("logger") == "app.imports.tasks"]


def test_the_periodic_job_runs_every_period_once_though_two_schedulers_fire_it(two_schedulers):
    interval = worker_setting("IMPORT_EXPIRY_INTERVAL_SECONDS")
    assert len(compose("ps", "-q", "scheduler").stdout.split()) == 2
    started = psql("SELECT extract(epoch FROM now())::bigint")
    window = 10 * interval + 30

    def five_periods_and_a_refused_duplicate() -> bool:
        refused = [line for line in task_lines(window) if "already ran" in line["message"]]
        return len(expiry_runs_since(started)) >= 5 and bool(refused)

    wait_for(five_periods_and_a_refused_duplicate, window, 1, "five periods, one refused twice")
    periods = expiry_runs_since(started)
    assert periods == list(range(periods[0], periods[0] + len(periods))), "a period was skipped"
    lines = task_lines(window)
    ran = [line["period"] for line in lines if line["message"] == "jobs: imports.expire"]
    assert sorted(ran) == sorted(set(ran)), "a period's job ran twice"
