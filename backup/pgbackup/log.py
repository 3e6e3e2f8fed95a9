"""The service's log lines, in the stack's one schema (pyservice/logs.py): JSON on stdout, or
on stderr for `fetch`, whose stdout is the dump (pgbackup/__main__.py configures which)."""

from __future__ import annotations

import logging

from pyservice.logs import log_event

LOGGER = logging.getLogger("backup")


def log(event: str, outcome: str, message: str, **fields: object) -> None:
    log_event(LOGGER, event, outcome, message, **fields)
