#!/usr/bin/env bash
# Print where the running stack listens, from the ports Docker published (after `make up`).
set -euo pipefail
cd "$(dirname "$0")/.."
port() { scripts/compose.sh port "$1" "$2" | sed 's/.*://'; }
https=$(port nginx 8443)
http=$(port nginx 8080)
prometheus=$(port prometheus 9090)
echo
echo "  App:        https://localhost:$https/  (self-signed certificate)"
echo "  Health:     https://localhost:$https/health"
echo "  API:        https://localhost:$https/api/items"
echo "  OpenAPI:    https://localhost:$https/api/openapi.json"
echo "  HTTP:       http://localhost:$http/ redirects to HTTPS"
echo "  Prometheus: http://localhost:$prometheus/"
