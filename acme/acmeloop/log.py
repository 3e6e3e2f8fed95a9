"""The service's log lines, in the stack's one schema (pyservice/logs.py) on stdout."""

from __future__ import annotations

import logging

from pyservice.logs import log_event

LOGGER = logging.getLogger("acme")

# The last line logged: what a renewal requested through the service reports back. One dict,
# updated in place, so that every module that imported it sees the last line.
last_record: dict = {}


def log(event: str, outcome: str, message: str, **fields: object) -> dict:
    """One line of the stack's log schema on stdout; returned."""
    record = log_event(LOGGER, event, outcome, message, **fields)
    last_record.clear()
    last_record.update(record)
    return record
