#!/usr/bin/env bash
# Deploy the stack to Docker Swarm on this machine: initialise a single-node swarm if there is
# none, build the images with Compose, deploy swarm/stack.yaml, and wait until every service
# has its replicas running and healthy and the migration job has completed.
set -euo pipefail
cd "$(dirname "$0")/.."

# docker stack deploy reads no .env: load it (plain KEY=value lines), as Compose would, and
# images.env on top, as scripts/compose.sh does.
for file in .env images.env; do
  if [ -f "$file" ]; then
    set -a
    # shellcheck disable=SC1090
    . "./$file"
    set +a
  fi
done

stack=${SWARM_STACK:-flaskswarm}
log() { printf '[swarm-up] %s\n' "$*"; }

if [ -n "$(scripts/compose.sh ps -q nginx prometheus 2>/dev/null)" ]; then
  echo "The Compose stack is running and holds the same ports: run make down first." >&2
  exit 1
fi

if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  log "initialising a single-node swarm"
  docker swarm init --advertise-addr "${SWARM_ADVERTISE_ADDR:-127.0.0.1}" >/dev/null
  # Remembered so that make swarm-down leaves only a swarm it created.
  touch .swarm-initialised-by-make
fi

scripts/first-run.sh
log "building the app and nginx images"
scripts/compose.sh build -q app nginx

export SWARM_SECRETS_PATH SWARM_CERT_PATH
SWARM_SECRETS_PATH=$(cd "${SECRETS_DIR:-secrets}" && pwd)
SWARM_CERT_PATH=$(cd "${CERT_DIR:-certs}" && pwd)
project=${COMPOSE_PROJECT_NAME:-flask-stack}
export APP_IMAGE=${APP_IMAGE:-$project/app:local}
export NGINX_BUILT_IMAGE=${NGINX_BUILT_IMAGE:-$project/nginx:local}

log "deploying stack $stack"
# The images are local: there is no registry to resolve digests from.
docker stack deploy --resolve-image never -c swarm/stack.yaml "$stack" >/dev/null

swarm/wait.sh "$stack"
log "ready: https://localhost:${HTTPS_PORT:-8443}/ (Prometheus on port ${PROMETHEUS_PORT:-9090})"
