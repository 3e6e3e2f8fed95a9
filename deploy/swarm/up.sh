#!/usr/bin/env bash
# Deploy the stack to Docker Swarm on this machine, or roll a new build out to it:
#   1. initialise a single-node swarm if there is none; create secrets/ and certs/ if absent;
#   2. build the app, nginx and acme images with Compose and tag them by content, so each build is
#      a new service spec (an unchanged build changes nothing);
#   3. if the stack runs an older build: deploy with the app still on its running image and
#      the one-shot jobs (migrations, static files) on the new one, and wait until they finish;
#   4. deploy everything on the new build and wait until every service is healthy.
# The stack file is rendered from compose.yaml plus compose.swarm.yaml (render.py).
set -euo pipefail
cd "$(dirname "$0")/../.."

stack=${SWARM_STACK:-flaskswarm}
project=${COMPOSE_PROJECT_NAME:-flask-stack}
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
log "building the app, nginx and acme images"
scripts/compose.sh build -q app nginx acme
retag=()
for name in app nginx acme; do
  local_tag="$project/$name:local"
  build_tag="$project/$name:build-$(docker image inspect -f '{{.Id}}' "$local_tag" | cut -d: -f2 | cut -c1-12)"
  docker tag "$local_tag" "$build_tag"
  retag+=(--retag "$local_tag=$build_tag")
  [ "$name" != app ] || new_app=$build_tag
done

deploy() {  # render.py options
  scripts/compose.sh -f compose.yaml -f deploy/swarm/compose.swarm.yaml config --format json \
    | python3 deploy/swarm/render.py "${retag[@]}" "$@" > "$rendered"
  # The images are local: there is no registry to resolve digests from.
  docker stack deploy --resolve-image never --prune -c "$rendered" "$stack" >/dev/null
}
rendered=$(mktemp --suffix=.json)
trap 'rm -f "$rendered"' EXIT

running=$(docker service inspect -f '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "${stack}_app" 2>/dev/null || true)
if [ -n "$running" ] && [ "${running%%@*}" != "$new_app" ]; then
  log "running the migrations and publishing the static files of the new build"
  deploy --image "app=${running%%@*}"
  deploy/swarm/wait.sh "$stack" migrate assets
fi
log "deploying stack $stack"
deploy
deploy/swarm/wait.sh "$stack"
# Secrets and configs are named by content: drop the ones no service uses any more.
for kind in secret config; do
  docker "$kind" ls -q --filter "label=com.docker.stack.namespace=$stack" \
    | xargs -r docker "$kind" rm >/dev/null 2>&1 || true
done
log "ready"
