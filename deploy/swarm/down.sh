#!/usr/bin/env bash
# Remove the stack (its volumes too with SWARM_REMOVE_VOLUMES=1) and leave the swarm if
# make swarm-up created it.
set -euo pipefail
cd "$(dirname "$0")/../.."
stack=${SWARM_STACK:-flaskswarm}

if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" = active ]; then
  docker stack rm "$stack" >/dev/null 2>&1 || true
  # Networks and containers go away asynchronously.
  for _ in $(seq 1 60); do
    [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$stack")" ] \
      && [ -z "$(docker network ls -q --filter "label=com.docker.stack.namespace=$stack")" ] && break
    sleep 1
  done
  if [ -f .swarm-initialised-by-make ]; then
    docker swarm leave --force >/dev/null
    rm -f .swarm-initialised-by-make
  fi
fi
# Volumes are the node's, not the swarm's: they outlive leaving it, and a later stack of the
# same name would start on their data (and on the passwords it was created with).
if [ "${SWARM_REMOVE_VOLUMES:-0}" = 1 ]; then
  docker volume ls -q --filter "label=com.docker.stack.namespace=$stack" | xargs -r docker volume rm >/dev/null
fi
echo "[swarm-down] stack $stack removed"
