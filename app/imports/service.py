"""Imports: accepted in one transaction with their job, applied by the worker exactly once.

Accepting: the row is written, the job published (by its task's name, RUN_TASK: the task
lives in app/imports/tasks.py, which calls this module), then the row committed. A broker that does
not take the job rolls the row back (503, nothing left behind). A job published for a row
whose commit then failed finds no row and is dropped after a few tries.

Applying (``apply_import``, run by the worker, maybe more than once for one import): items
are written in batches of IMPORT_BATCH_SIZE, each batch in its own transaction with the
progress; ``(import_id, import_position)`` is unique, so a batch written by an earlier,
interrupted run is skipped, and ``done`` is counted from the rows themselves.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from kombu.exceptions import KombuError
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError

from app.caching import cache_invalidate
from app.errors import ApiError
from app.extensions import db
from app.imports.models import ERROR_MAX, FINISHED, Import, import_to_dict
from app.items.models import Item
from app.items.service import STATS_KEY
from app.jobs import EXTENSION_KEY
from app.sql import insert_skipping_duplicates
from app.utc_time import utc_now

log = logging.getLogger(__name__)

# What a broker that cannot take a job raises on publish.
BROKER_ERRORS = (KombuError, RedisError, OSError)
# The job that applies an import; the worker registers it under this name.
RUN_TASK = "imports.run"


class ImportNotFound(Exception):
    """No row (yet): the job may have been published before its row was committed."""


class RetryLater(Exception):
    """The database is unreachable: nothing was lost, run the job again later."""


def create_import(items: list[dict[str, str | None]]) -> dict[str, Any]:
    row = Import(id=str(uuid.uuid4()), status="queued", total=len(items), done=0, payload=items)
    db.session.add(row)
    db.session.flush()
    try:
        current_app.extensions[EXTENSION_KEY].send_task(RUN_TASK, args=[row.id], retry=False)
    except BROKER_ERRORS as error:
        db.session.rollback()
        log.warning(
            "imports: the broker did not take the job", extra={"error": type(error).__name__}
        )
        raise ApiError(
            503,
            "queue_unavailable",
            "The job queue is unavailable, so nothing was imported; try again shortly.",
        ) from None
    db.session.commit()
    log.info("imports: queued", extra={"import_id": row.id, "total": row.total})
    return import_to_dict(row)


def get_import(import_id: str) -> dict[str, Any] | None:
    try:
        uuid.UUID(import_id)
    except ValueError:
        return None
    row = db.session.get(Import, import_id)
    return None if row is None else import_to_dict(row)


def apply_import(import_id: str) -> str:
    """Write the import's items; return "succeeded" or "failed" (this run finished it) or
    "finished before" (a redelivered job). Raises ImportNotFound, or RetryLater when the
    database is unreachable."""
    config = current_app.config
    try:
        row = db.session.get(Import, import_id)
        if row is None:
            raise ImportNotFound(import_id)
        if row.status in FINISHED:
            return "finished before"  # a redelivered job whose work is done
        row.attempts += 1
        if row.attempts > config["JOB_MAX_ATTEMPTS"]:
            return _fail(
                row,
                f"The import was started {row.attempts - 1} times without "
                "finishing (its worker stopped each time), so it was given up.",
            )
        row.status = "running"
        db.session.commit()
        items = list(row.payload or [])
        size = config["IMPORT_BATCH_SIZE"]
        for start in range(0, len(items), size):
            _write_batch(row, items, start, size)
        row.status, row.finished_at, row.payload = "succeeded", utc_now(), None
        db.session.commit()
        log.info("imports: succeeded", extra={"import_id": import_id, "total": row.total})
        return "succeeded"
    except OperationalError:
        db.session.rollback()
        raise RetryLater(import_id) from None
    except (ImportNotFound, RetryLater):
        raise
    except Exception as error:
        db.session.rollback()
        log.exception("imports: failed", extra={"import_id": import_id})
        row = db.session.get(Import, import_id)
        if row is None:
            raise
        return _fail(
            row,
            f"The import failed while writing its items ({type(error).__name__}); "
            "the items written before the failure remain.",
        )


def _write_batch(row: Import, items: list[dict[str, Any]], start: int, size: int) -> None:
    batch = [
        {
            "name": item["name"],
            "description": item.get("description"),
            "import_id": row.id,
            "import_position": position,
        }
        for position, item in enumerate(items[start : start + size], start)
    ]
    db.session.execute(insert_skipping_duplicates(Item), batch)
    row.done = db.session.scalar(
        sa.select(sa.func.count()).select_from(Item).where(Item.import_id == row.id)
    )
    db.session.commit()
    cache_invalidate(STATS_KEY)


def _fail(row: Import, message: str) -> str:
    row.status, row.finished_at, row.error = "failed", utc_now(), message[:ERROR_MAX]
    db.session.commit()
    log.warning("imports: failed", extra={"import_id": row.id, "error": row.error})
    return "failed"


def expire_imports(retention_seconds: int) -> int:
    """Delete finished imports older than RETENTION_SECONDS; their items stay. Returns the
    number deleted."""
    cutoff = utc_now() - timedelta(seconds=retention_seconds)
    deleted = db.session.execute(
        sa.delete(Import).where(Import.status.in_(FINISHED), Import.finished_at < cutoff)
    ).rowcount
    db.session.commit()
    return int(deleted or 0)
