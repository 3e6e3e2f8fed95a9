"""One JSON object per line, as every service of the stack logs: on stderr, so that stdout
stays free for the dumps `fetch` writes."""

from __future__ import annotations

import datetime as dt
import json
import sys


def log(event: str, outcome: str, message: str, **fields: object) -> None:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    record = {
        "time": now,
        "logger": "backup",
        "event": event,
        "outcome": outcome,
        "level": "error" if outcome == "failure" else "info",
        "message": message,
        **fields,
    }
    sys.stderr.write(json.dumps(record, default=str) + "\n")
    sys.stderr.flush()
