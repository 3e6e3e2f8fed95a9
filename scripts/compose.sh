#!/usr/bin/env bash
# `docker compose` for this project: the Makefile, the scripts and the tests all call it, so
# they all see the same images. Compose reads .env itself; images.env (written where no
# registry answers, see offline-images/README.md) selects the stand-in images on top of it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f images.env ]; then
  set -a
  # shellcheck disable=SC1091
  . ./images.env
  set +a
fi
exec docker compose "$@"
