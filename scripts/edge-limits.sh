#!/usr/bin/env bash
# Lift the edge's per-client limits (rates on every path, open connections) for a measured run
# (make bench, the API fuzzer, the deploy test), and put them back. `raise` recreates nginx with a Compose override that sets the limits high;
# `restore` recreates it from the stack's own files and .env alone. Only nginx is touched.
#   scripts/edge-limits.sh raise [RATE] [BURST]    (defaults: 100000r/s, 100000)
#   scripts/edge-limits.sh restore
set -euo pipefail
cd "$(dirname "$0")/.."

# Not --no-deps: Compose hashes a service without its dependencies then, and the next `make up`
# would see a changed nginx and recreate it again.
recreate() {
  local output
  output=$(scripts/compose.sh up -d --no-build --wait --wait-timeout 120 nginx 2>&1) \
    || { printf '%s\n' "$output" >&2; return 1; }
}

case "${1:-}" in
  raise)
    override=$(mktemp --suffix=.yaml)
    trap 'rm -f "$override"' EXIT
    rate=${2:-100000r/s} burst=${3:-100000}
    cat > "$override" <<YAML
services:
  nginx:
    environment:
      RATE_LIMIT: "$rate"
      RATE_BURST: "$burst"
      PAGE_RATE_LIMIT: "$rate"
      PAGE_RATE_BURST: "$burst"
      STATIC_RATE_LIMIT: "$rate"
      STATIC_RATE_BURST: "$burst"
      CONN_LIMIT: "60000"
YAML
    # On top of the stack's own files: compose.yaml, or COMPOSE_FILE's list when it is set.
    export COMPOSE_FILE="${COMPOSE_FILE:-compose.yaml}:$override"
    recreate
    ;;
  restore)
    recreate
    ;;
  *)
    echo "usage: $0 raise [RATE] [BURST] | restore" >&2
    exit 2
    ;;
esac
