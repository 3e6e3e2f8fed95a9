"""The bench's one kind of failure, its log line, and the commands it runs (bench/bench.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"


class BenchError(Exception):
    """A failure that stops the run with one line."""


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run(
    cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"timed out after {timeout:.0f} s: {' '.join(cmd)}") from None
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise BenchError(f"failed ({result.returncode}): {' '.join(cmd)}\n  " + "\n  ".join(detail))
    return result
