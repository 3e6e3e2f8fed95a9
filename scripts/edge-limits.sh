#!/usr/bin/env bash
# Lift the edge's per-client limits for a measured run (make bench, the API fuzzer), and put
# them back. `raise` recreates nginx with a Compose override that sets the limits high;
# `restore` recreates it from compose.yaml and .env alone. Only nginx is touched.
#   scripts/edge-limits.sh raise [RATE] [BURST]    (defaults: 100000r/s, 100000)
#   scripts/edge-limits.sh restore
set -euo pipefail
cd "$(dirname "$0")/.."

recreate() { scripts/compose.sh "$@" up -d --no-deps --no-build --wait --wait-timeout 120 nginx >/dev/null; }

case "${1:-}" in
  raise)
    override=$(mktemp --suffix=.yaml)
    trap 'rm -f "$override"' EXIT
    cat > "$override" <<YAML
services:
  nginx:
    environment:
      RATE_LIMIT: "${2:-100000r/s}"
      RATE_BURST: "${3:-100000}"
YAML
    recreate -f compose.yaml -f "$override"
    ;;
  restore)
    recreate
    ;;
  *)
    echo "usage: $0 raise [RATE] [BURST] | restore" >&2
    exit 2
    ;;
esac
