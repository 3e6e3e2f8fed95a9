#!/usr/bin/env bash
# Start-up time: how long `make up` takes from a stopped stack, images already built, until
# every service is healthy. Writes results/startup-<UTC timestamp>.json, which `make bench`
# then reports.
#
#   STARTUP_MODE=warm (default): `make down` first, data volumes kept (a restart)
#   STARTUP_MODE=cold:           `make destroy` first, data volumes deleted (a first run:
#                                Postgres initialises its cluster, migrations run from zero)
#
# It stops the stack it measures, so COMPOSE_PROJECT_NAME must be set explicitly, with the
# same ports the stack uses, for example:
#   COMPOSE_PROJECT_NAME=benchstack HTTP_PORT=18080 HTTPS_PORT=18443 PROMETHEUS_PORT=19090 \
#     bench/startup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${COMPOSE_PROJECT_NAME:-}" ]; then
  echo "startup.sh stops and restarts a stack: set COMPOSE_PROJECT_NAME to the one to measure." >&2
  exit 2
fi
mode=${STARTUP_MODE:-warm}
case "$mode" in
  warm) stop_target=down ;;
  cold) stop_target=destroy ;;
  *) echo "STARTUP_MODE must be warm or cold, not '$mode'." >&2; exit 2 ;;
esac

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "startup: building images and starting $COMPOSE_PROJECT_NAME once (not timed)" >&2
timeout 600 make --no-print-directory up >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
echo "startup: make $stop_target" >&2
timeout 300 make --no-print-directory "$stop_target" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }

echo "startup: timing make up ($mode)" >&2
start=$(date +%s.%N)
timeout 600 make --no-print-directory up >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
end=$(date +%s.%N)
seconds=$(python3 -c "print(round($end - $start, 1))")

mkdir -p results
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="results/startup-$stamp.json"
python3 - "$out" "$COMPOSE_PROJECT_NAME" "$mode" "$seconds" <<'EOF'
import json, os, sys
out, project, mode, seconds = sys.argv[1:]
json.dump({"project": project, "mode": mode, "seconds": float(seconds),
           "cpus": os.cpu_count(), "what": "make up, images built, until every service is healthy"},
          open(out, "w"), indent=2)
EOF
echo "Start-up ($mode, images built): ${seconds} s -> $out"
