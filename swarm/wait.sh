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
      docker service ps --format '{{.CurrentState}}' "$service" | grep -q '^Complete' || return 1
      continue
    fi
    [ "$running" = "$desired" ] || return 1
  done < <(docker stack services --format '{{.Name}} {{.Replicas}}' "$stack")
  # Every running task's container that has a healthcheck must report healthy.
  if docker ps --filter "label=com.docker.stack.namespace=$stack" --format '{{.Status}}' \
      | grep -E '\((health: starting|unhealthy)\)' -q; then
    return 1
  fi
  return 0
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
