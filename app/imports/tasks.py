"""The import jobs the worker runs, registered by name (the scheduler and the app publish
them by that name). Each may run more than once for one import: see service.apply_import."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from flask import current_app

from app.imports import service
from app.jobs.runs import claim_period

log = logging.getLogger(__name__)

# A job may be taken before the request that published it has committed its row.
NOT_FOUND_RETRIES = 10


class ImportFailed(Exception):
    """The import ended `failed` (its `error` says why): the job counts as failed."""


@shared_task(name=service.RUN_TASK, bind=True, max_retries=None)
def run_import(self: Task, import_id: str) -> str | None:
    try:
        outcome = service.apply_import(import_id)
    except service.ImportNotFound:
        if self.request.retries >= NOT_FOUND_RETRIES:
            log.warning("imports: no such import, job dropped", extra={"import_id": import_id})
            return None
        raise self.retry(countdown=1) from None
    except service.RetryLater:
        # The database is down: try again with a growing pause, as long as it takes.
        delay = min(2 ** min(self.request.retries, 5), 30)
        log.warning("imports: database unreachable, retrying", extra={"import_id": import_id})
        raise self.retry(countdown=delay) from None
    if outcome == "failed":
        raise ImportFailed(import_id)
    return outcome


@shared_task(name="imports.expire")
def expire_imports() -> int | None:
    """Delete finished imports past IMPORT_RETENTION_SECONDS, once per scheduler period."""
    config = current_app.config
    period = claim_period("imports.expire", config["IMPORT_EXPIRY_INTERVAL_SECONDS"])
    if period is None:
        log.info("jobs: imports.expire already ran in this period")
        return None
    deleted = service.expire_imports(config["IMPORT_RETENTION_SECONDS"])
    log.info("jobs: imports.expire", extra={"period": period, "deleted": deleted})
    return deleted
