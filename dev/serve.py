"""The development servers `make dev` runs (compose.dev.yaml), in the development image alone
(Dockerfile, stage `dev`); the working tree's app/ is bind-mounted over /app/app.

  python dev/serve.py app                  gunicorn with --reload: a worker whose Python files
                                           changed is replaced; templates are read again on
                                           each render (debug on)
  python dev/serve.py restart -- CMD ...   CMD (the Celery worker, the scheduler), stopped
                                           gracefully and started again when a Python file
                                           under app/ changes

Both refuse to start unless FLASK_CONFIG is development (exit 78, one line on stderr): the
reloader and debug never run with production's settings. Only the standard library.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

EX_CONFIG = 78
# The code a change to which restarts CMD: the bind-mounted working tree.
WATCHED = Path(__file__).resolve().parents[1] / "app"
POLL_SECONDS = 1.0
# Celery's warm shutdown lets running jobs finish; past this a restart kills the rest.
STOP_SECONDS = 30.0


def refusal(environ: Mapping[str, str]) -> str | None:
    """Why these servers must not start in ENVIRON, or None."""
    name = environ.get("FLASK_CONFIG", "").strip().lower() or "unset"
    if name != "development":
        return (
            f"dev/serve.py runs with FLASK_CONFIG=development only, got {name}: the production"
            " stack is `make up`"
        )
    return None


def snapshot(root: Path) -> dict[str, int]:
    """Modification times of the Python files under ROOT (a file gone mid-walk is skipped)."""
    seen = {}
    for path in root.rglob("*.py"):
        try:
            seen[str(path)] = path.stat().st_mtime_ns
        except FileNotFoundError:
            continue
    return seen


def exit_code(code: int) -> int:
    """A child's return code as a shell reports it: 128 + N when signal N ended it."""
    return 128 - code if code < 0 else code


def stop(child: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Stop CHILD gracefully (SIG), then kill it after STOP_SECONDS; its exit code."""
    child.send_signal(sig)
    try:
        return exit_code(child.wait(STOP_SECONDS))
    except subprocess.TimeoutExpired:
        child.kill()
        return exit_code(child.wait())


def restart_on_change(
    command: Sequence[str], root: Path = WATCHED, poll: float = POLL_SECONDS
) -> int:
    """Run COMMAND; start it again whenever a Python file under ROOT changes. Returns when
    COMMAND exits by itself (its code: the container's restart policy applies) or when this
    process is told to stop (SIGTERM, SIGINT), after passing the signal on."""
    stopping: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    seen = snapshot(root)
    child = subprocess.Popen(command)
    while True:
        try:
            code = child.wait(poll)
        except subprocess.TimeoutExpired:
            code = None
        if stopping:
            return stop(child, stopping[0]) if code is None else exit_code(code)
        if code is not None:
            return exit_code(code)
        current = snapshot(root)
        if current != seen:
            changed = sorted({path for path, _ in set(current.items()) ^ set(seen.items())})
            print(f"dev: {', '.join(changed)} changed: restarting {command[0]}", flush=True)
            stop(child)
            # What was seen before the stop, not after: a file saved while the command stops
            # (a Celery warm shutdown takes seconds) restarts it once more, and is named.
            seen = current
            child = subprocess.Popen(command)


def main(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> int:
    reason = refusal(environ)
    if reason is not None:
        print(f"configuration error: {reason}", file=sys.stderr, flush=True)
        return EX_CONFIG
    if list(argv[:1]) == ["app"]:
        # gunicorn.conf.py's settings, plus the reloader. execvp: gunicorn gets tini's signals.
        os.execvp("gunicorn", ["gunicorn", "--reload"])
    if list(argv[:2]) == ["restart", "--"] and len(argv) > 2:
        return restart_on_change(argv[2:])
    print("usage: dev/serve.py app | restart -- COMMAND...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
