"""Bulk imports: validation by index and field, the job queued with its row or neither, and
the job's work applied exactly once however often it runs (app/imports/)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.imports import service
from app.imports.models import Import
from app.imports.tasks import ImportFailed, expire_imports, run_import
from app.items.models import Item
from app.jobs import EXTENSION_KEY, QUEUE
from app.jobs.runs import PeriodicRun
from app.utc_time import utc_now
from tests.unit.conftest import build_app

pytestmark = pytest.mark.unit


def items(count: int) -> list[dict[str, Any]]:
    return [{"name": f"item {n}", "description": f"number {n}"} for n in range(count)]


def queued_jobs(app: Flask) -> list[dict[str, Any]]:
    """The jobs waiting in the (in-memory) broker, taken off it."""
    jobs = []
    with app.extensions[EXTENSION_KEY].connection_for_read() as connection:
        queue = connection.SimpleQueue(QUEUE)
        while True:
            try:
                message = queue.get(block=False)
            except queue.Empty:
                break
            jobs.append({"task": message.headers["task"], "args": message.decode()[0],
                         "headers": message.headers})  # fmt: skip
            message.ack()
        queue.close()
    return jobs


@pytest.fixture(autouse=True)
def empty_broker(app: Flask) -> None:
    """Kombu's in-memory broker is one per process: start each test with its queue empty,
    whatever an earlier test (in any order) left on it."""
    queued_jobs(app)


def imported(app: Flask, import_id: str) -> list[tuple[int | None, str]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Item.import_position, Item.name).where(Item.import_id == import_id)
        )
        return sorted((position, name) for position, name in rows)


def test_an_import_is_accepted_with_its_row_and_its_job(app: Flask, client: FlaskClient):
    response = client.post("/api/imports", json={"items": items(3)})
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"id", "status", "total", "done", "error", "created_at", "finished_at"}
    assert (body["status"], body["total"], body["done"], body["error"]) == ("queued", 3, 0, None)
    assert body["created_at"].endswith("Z") and body["finished_at"] is None
    assert response.headers["Location"] == f"http://localhost/api/imports/{body['id']}"
    assert client.get(f"/api/imports/{body['id']}").get_json() == body
    jobs = queued_jobs(app)
    assert [(job["task"], job["args"]) for job in jobs] == [("imports.run", [body["id"]])]
    assert isinstance(jobs[0]["headers"]["enqueued_at"], float)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "items"),
        ({"items": []}, "items"),
        ({"items": "many"}, "items"),
        ({"items": items(5001)}, "items"),
        ({"items": items(2), "extra": 1}, "extra"),
        ({"items": [*items(3), {"description": "no name"}]}, "items[3].name"),
        ({"items": [*items(1), {"name": "x" * 201}]}, "items[1].name"),
        ({"items": [{"name": "a", "colour": "red"}]}, "items[0].colour"),
        ({"items": [*items(2), "not an object"]}, "items[2]"),
    ],
)
def test_an_invalid_import_is_refused_by_index_and_field_and_nothing_is_queued(
    app: Flask, client: FlaskClient, body: dict[str, Any], field: str
):
    response = client.post("/api/imports", json=body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", field)
    assert queued_jobs(app) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Import)) == 0


def test_5000_items_are_accepted():
    app = build_app()
    response = app.test_client().post("/api/imports", json={"items": items(5000)})
    assert response.status_code == 202, response.get_json()


def test_a_broker_that_cannot_take_the_job_gets_503_and_leaves_no_import():
    app = build_app()
    # A real Redis client against a port nothing listens on.
    app.extensions[EXTENSION_KEY].conf.broker_url = "redis://127.0.0.1:9/0"
    response = app.test_client().post("/api/imports", json={"items": items(2)})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "queue_unavailable"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Import)) == 0


@pytest.mark.parametrize("import_id", ["3f1c0a2e-0000-4000-8000-000000000000", "not-an-id", "1"])
def test_an_unknown_import_is_404(client: FlaskClient, import_id: str):
    response = client.get(f"/api/imports/{import_id}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def accepted(client: FlaskClient, count: int) -> str:
    response = client.post("/api/imports", json={"items": items(count)})
    assert response.status_code == 202
    return str(response.get_json()["id"])


def test_the_job_writes_every_item_in_batches_and_finishes(app: Flask, client: FlaskClient):
    app.config["IMPORT_BATCH_SIZE"] = 4
    import_id = accepted(client, 10)
    with app.app_context():
        assert run_import.apply(args=[import_id]).get() == "succeeded"
    body = client.get(f"/api/imports/{import_id}").get_json()
    assert (body["status"], body["done"], body["total"], body["error"]) == (
        "succeeded",
        10,
        10,
        None,
    )
    assert body["finished_at"] is not None
    assert imported(app, import_id) == [(n, f"item {n}") for n in range(10)]
    listed = client.get("/api/items?limit=100").get_json()
    assert listed["total"] == 10


def test_a_job_that_runs_again_after_a_crash_writes_each_item_once(app: Flask, client: FlaskClient):
    app.config["IMPORT_BATCH_SIZE"] = 3
    import_id = accepted(client, 8)
    with app.app_context():
        # The first run wrote one batch and died: its row says running, 3 done.
        row = db.session.get(Import, import_id)
        service._write_batch(row, row.payload, 0, 3)
        row.status = "running"
        db.session.commit()
        assert service.apply_import(import_id) == "succeeded"
        # And a third delivery of the same job finds the work done.
        assert service.apply_import(import_id) == "finished before"
    assert imported(app, import_id) == [(n, f"item {n}") for n in range(8)]
    assert client.get(f"/api/imports/{import_id}").get_json()["done"] == 8


def test_a_job_that_keeps_killing_its_worker_is_failed_not_left_running(
    app: Flask, client: FlaskClient
):
    import_id = accepted(client, 2)
    with app.app_context():
        db.session.get(Import, import_id).attempts = app.config["JOB_MAX_ATTEMPTS"]
        db.session.commit()
        with pytest.raises(ImportFailed):
            run_import.apply(args=[import_id]).get()
    body = client.get(f"/api/imports/{import_id}").get_json()
    assert body["status"] == "failed" and body["finished_at"] is not None
    assert "given up" in body["error"]
    assert imported(app, import_id) == []


def test_a_permanent_database_error_ends_the_import_failed_with_a_sentence(
    app: Flask, client: FlaskClient
):
    import_id = accepted(client, 3)
    with app.app_context():
        row = db.session.get(Import, import_id)
        row.payload = [{"name": "fine"}, {"name": None}, {"name": "never"}]  # NOT NULL fails
        db.session.commit()
        assert service.apply_import(import_id) == "failed"
    body = client.get(f"/api/imports/{import_id}").get_json()
    assert body["status"] == "failed"
    assert body["error"].startswith("The import failed while writing its items (IntegrityError)")


def test_a_job_whose_row_is_not_committed_yet_is_told_so_for_a_retry(app: Flask):
    with app.app_context(), pytest.raises(service.ImportNotFound):
        service.apply_import("3f1c0a2e-0000-4000-8000-000000000000")


def finished(app: Flask, status: str, days_ago: float) -> str:
    with app.app_context():
        row = Import(id=f"00000000-0000-4000-8000-{int(days_ago * 1000):012d}", status=status,
                     total=1, done=1, finished_at=utc_now() - timedelta(days=days_ago))  # fmt: skip
        db.session.add(row)
        db.session.commit()
        return row.id


def test_the_periodic_job_expires_old_finished_imports_once_per_period(app: Flask):
    app.config.update(IMPORT_RETENTION_SECONDS=86400, IMPORT_EXPIRY_INTERVAL_SECONDS=3600)
    old = [finished(app, "succeeded", 3), finished(app, "failed", 2)]
    recent = finished(app, "succeeded", 0.5)
    with app.app_context():
        queued = Import(id="00000000-0000-4000-8000-999999999999", status="queued", total=1)
        db.session.add(queued)
        db.session.commit()
        assert expire_imports.apply().get() == 2
        assert expire_imports.apply().get() is None  # the same hour: already ran
        left = set(db.session.scalars(sa.select(Import.id)))
        assert left == {recent, queued.id} and not left & set(old)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PeriodicRun)) == 1
