"""What the service exports on BACKUP_METRICS_PORT, and the state file in the `backups` volume
that carries it across restarts (so a restart does not forget when the last success was)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from prometheus_client import Gauge

LAST_SUCCESS = Gauge(
    "backup_last_success_timestamp_seconds",
    "When the last backup that succeeded finished (0: none yet)",
)
LAST_OK = Gauge("backup_last_run_success", "1 if the last backup succeeded, 0 if it failed")
VERIFY_LAST_SUCCESS = Gauge(
    "backup_verify_last_success_timestamp_seconds",
    "When the last verification (restore into a scratch database) that succeeded finished",
)
VERIFY_LAST_OK = Gauge(
    "backup_verify_last_run_success", "1 if the last verification succeeded, 0 if it failed"
)
UPLOADS = Gauge("backup_bucket_configured", "1 if dumps are uploaded to a bucket")

GAUGES = {
    "backup_last_success": LAST_SUCCESS,
    "backup_last_ok": LAST_OK,
    "verify_last_success": VERIFY_LAST_SUCCESS,
    "verify_last_ok": VERIFY_LAST_OK,
}


class State:
    """The gauges' values, saved to PATH after every change and loaded at start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.values: dict[str, float] = {}
        with contextlib.suppress(FileNotFoundError, ValueError):
            self.values = {k: float(v) for k, v in json.loads(path.read_text()).items()}
        for key, gauge in GAUGES.items():
            gauge.set(self.values.get(key, 0 if "success" in key else 1))

    def record(self, kind: str, ok: bool, at: float) -> None:
        GAUGES[f"{kind}_last_ok"].set(1 if ok else 0)
        self.values[f"{kind}_last_ok"] = 1 if ok else 0
        if ok:
            GAUGES[f"{kind}_last_success"].set(at)
            self.values[f"{kind}_last_success"] = at
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(self.values))
        partial.rename(self.path)
