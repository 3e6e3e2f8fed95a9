"""What gunicorn's master has done before it forks its workers (gunicorn.conf.py's
``on_starting``), run as ``python -m app.preflight`` so that the master never imports the app:
empty the metrics directory, so samples of a previous run are never summed in, and refuse a
bad configuration with one line on stderr and exit 78 (EX_CONFIG)."""

from __future__ import annotations

import sys

from app.config import ConfigError, get_config
from app.telemetry import reset_multiproc_dir
from pyservice.settings import EX_CONFIG


def main() -> int:
    reset_multiproc_dir()
    try:
        get_config()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr, flush=True)
        return EX_CONFIG
    return 0


if __name__ == "__main__":
    sys.exit(main())
