#!/usr/bin/env python3
"""Tuning comparisons: `make up` with each setting, `make bench`, one table of ratios.

    bench/compare.py default "sync2:GUNICORN_WORKER_CLASS=sync GUNICORN_WORKERS=2" ...

Each argument is NAME or NAME:VAR=value VAR=value. The first is the baseline; every figure is
shown as a ratio to it. The app is recreated for each setting through `make up` (the same
COMPOSE_PROJECT_NAME and ports as the environment), and `make up` without the overrides runs
at the end so the stack returns to its defaults. `--report FILE...` only prints the table for
bench JSON files already written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make(target: str, overrides: dict[str, str], timeout: int) -> str:
    cmd = ["make", "--no-print-directory", target, *(f"{k}={v}" for k, v in overrides.items())]
    print("compare: " + " ".join(cmd), file=sys.stderr, flush=True)
    result = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-2000:] + result.stderr[-2000:])
        raise SystemExit(f"compare: make {target} failed")
    return result.stdout


def table(runs: list[tuple[str, dict]]) -> None:
    keys = list(runs[0][1]["scenarios"])
    base = runs[0][1]["scenarios"]
    print(
        f"{'setting':<14}" + "".join(f"{k:>16}" for k in keys) + f"{'errors':>8}{'app MiB':>9}"
        f"{'restarts':>9}"
    )
    for name, report in runs:
        cells = []
        for key in keys:
            row = report["scenarios"].get(key)
            if not row:
                cells.append(f"{'-':>16}")
                continue
            ratio = row["rps"] / base[key]["rps"] if base.get(key, {}).get("rps") else 0
            cells.append(f"{row['rps']:>7.0f} ({ratio:>4.2f}x)")
        errors = sum(row["errors"] for row in report["scenarios"].values())
        memory = report["memory_mib"].get("app", {}).get("mib", float("nan"))
        restarts = report.get("log_findings", {}).get("gunicorn_worker_restarts", "?")
        print(f"{name:<14}" + "".join(cells) + f"{errors:>8}{memory:>9.0f}{restarts:>9}")
    print()
    print("p99 ms:")
    for name, report in runs:
        cells = [
            f"{report['scenarios'][k]['p99_ms']:>16.1f}"
            if k in report["scenarios"]
            else f"{'-':>16}"
            for k in keys
        ]
        print(f"{name:<14}" + "".join(cells))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--report"]:
        runs = []
        for path in argv[1:]:
            report = json.loads(Path(path).read_text())
            runs.append((report.get("label") or Path(path).stem, report))
        table(runs)
        return 0
    if not argv:
        print(__doc__)
        return 2
    runs = []
    try:
        for spec in argv:
            name, _, assignments = spec.partition(":")
            overrides = dict(pair.split("=", 1) for pair in assignments.split())
            make("up", overrides, timeout=600)
            output = make("bench", overrides, timeout=1200)
            path = [
                line.split(": ", 1)[1]
                for line in output.splitlines()
                if line.startswith("Results: ")
            ][-1]
            report = json.loads((ROOT / path).read_text())
            report["label"] = name
            report["overrides"] = overrides
            (ROOT / path).write_text(json.dumps(report, indent=2) + "\n")
            print(f"compare: {name} -> {path}", file=sys.stderr, flush=True)
            runs.append((name, report))
    finally:
        make("up", {}, timeout=600)
    table(runs)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(sys.argv[1:]))
