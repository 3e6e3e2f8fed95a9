#!/usr/bin/env bash
# Wait until the stack has settled: every one-shot service (restart condition other than
# `any`: migrate, assets) has a completed task of its current image, and every other service
# has all its replicas running its current image (a rolling update has finished) and healthy. With service names after the stack, wait for those
# one-shots only. Exits non-zero after SWARM_WAIT_SECONDS (default 300).
#   deploy/swarm/wait.sh STACK [ONE_SHOT...]
set -euo pipefail
stack=${1:?stack name}
shift
only=("$@")
deadline=$((SECONDS + ${SWARM_WAIT_SECONDS:-300}))

spec_image() {
  local image
  image=$(docker service inspect -f '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$1")
  echo "${image%%@*}"
}

completed() {  # service: a task of the service's current image has completed
  docker service ps --format '{{.Image}} {{.CurrentState}}' "$1" \
    | grep -q "^$(spec_image "$1") Complete"
}

updated() {  # service: every task meant to run runs the current image, and no rollback began
  local state
  state=$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$1")
  case "$state" in
    rollback_started | rollback_completed | rollback_paused | paused)
      echo "[swarm] $1: update $state" >&2
      exit 1
      ;;
  esac
  ! docker service ps --filter desired-state=running --format '{{.Image}}' "$1" \
    | grep -qv "^$(spec_image "$1")$"
}

ready() {
  local service replicas condition
  if [ "${#only[@]}" -gt 0 ]; then
    for service in "${only[@]}"; do
      completed "${stack}_$service" || return 1
    done
    return 0
  fi
  while read -r service replicas; do
    condition=$(docker service inspect -f '{{.Spec.TaskTemplate.RestartPolicy.Condition}}' "$service")
    if [ "$condition" != any ]; then
      completed "$service" || return 1
    elif [ "${replicas%%/*}" != "$(echo "${replicas##*/}" | cut -d' ' -f1)" ] \
      || ! updated "$service"; then
      return 1
    fi
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
