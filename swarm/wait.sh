#!/usr/bin/env bash
# Wait until every service of the stack has all its replicas running and healthy, and the
# migrate job has completed. Exits non-zero after SWARM_WAIT_SECONDS (default 300).
set -euo pipefail
stack=${1:?stack name}
deadline=$((SECONDS + ${SWARM_WAIT_SECONDS:-300}))

ready() {
  local service replicas running desired
  while read -r service replicas; do
    running=${replicas%%/*}
    desired=${replicas##*/}
    desired=${desired%% *}
    if [ "$service" = "${stack}_migrate" ]; then
      states=$(docker service ps --format '{{.CurrentState}}' "$service")
      [[ "$states" == *Complete* ]] || return 1
      continue
    fi
    [ "$running" = "$desired" ] || return 1
  done < <(docker stack services --format '{{.Name}} {{.Replicas}}' "$stack")
  # Every running task's container that has a healthcheck must report healthy.
  local statuses
  statuses=$(docker ps --filter "label=com.docker.stack.namespace=$stack" --format '{{.Status}}')
  [[ "$statuses" != *"health: starting"* && "$statuses" != *"(unhealthy)"* ]]
}

until ready; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "[swarm] stack $stack not ready in time:" >&2
    docker stack services "$stack" >&2
    docker stack ps --no-trunc "$stack" | head -40 >&2
    exit 1
  fi
  sleep 2
done
