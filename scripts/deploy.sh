#!/usr/bin/env bash
# Replace the running app with a new build without failing a request or closing a client
# connection. nginx resolves the app's name per request and is never reloaded:
#   1. build the new image, apply migrations (they must suit old and new code alike) and
#      publish the new static files beside the old ones;
#   2. pin nginx to the running replicas' colour (route file), so that new replicas get no
#      request before they are healthy; start as many new replicas as there are old ones under
#      the network alias of the other colour (app-blue / app-green) and wait until healthy;
#   3. swap the route file to the new colour: new requests go to the new replicas;
#   4. stop the old replicas gracefully (gunicorn finishes what they have in flight);
#   5. remove the route file once nginx's cached answer for `app` has expired: every replica
#      of the service is the new build by then;
#   6. replace the job worker and the scheduler with the new build: the old worker takes no new
#      job and finishes the ones it runs (Celery's warm shutdown), then the new one starts;
#      jobs published meanwhile wait in the broker.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[deploy] %s\n' "$*"; }
compose() { scripts/compose.sh "$@"; }
# Longer than nginx's NGINX_RESOLVER_VALID (2 s): a cached answer has expired after it.
resolver_wait=${DEPLOY_RESOLVER_WAIT_SECONDS:-3}

mapfile -t old < <(compose ps -q app)
if [ "${#old[@]}" -eq 0 ]; then
  echo "the app is not running: start the stack with make up" >&2
  exit 1
fi
aliases=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{join .Aliases " "}} {{end}}' "${old[0]}")
case " $aliases " in
  *" app-green "*) old_color=green new_color=blue ;;
  *) old_color=blue new_color=green ;;
esac

route() {  # the shell commands to run in the nginx container
  compose exec -T nginx sh -c "mkdir -p /tmp/nginx/route && $1"
}

log "building the new app image"
compose build -q app
log "applying migrations"
compose run --rm --no-deps migrate >/dev/null
log "publishing the static files"
compose run --rm --no-deps assets >/dev/null

route "touch /tmp/nginx/route/$old_color && rm -f /tmp/nginx/route/$new_color"
count=${#old[@]}
log "starting $count new replica(s) ($new_color) beside the $count running ($old_color)"
DEPLOY_COLOR=$new_color compose up -d --no-deps --no-recreate --scale "app=$((count * 2))" app >/dev/null
mapfile -t all < <(compose ps -q app)
new=()
for id in "${all[@]}"; do
  [[ " ${old[*]} " == *" $id "* ]] || new+=("$id")
done

deadline=$((SECONDS + 180))
for id in "${new[@]}"; do
  until [ "$(docker inspect -f '{{.State.Health.Status}}' "$id")" = healthy ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "a new replica did not become healthy: removing the new ones, the old keep serving"
      docker rm -f "${new[@]}" >/dev/null
      route "rm -f /tmp/nginx/route/$old_color"
      exit 1
    fi
    sleep 1
  done
done

log "moving traffic to the new replica(s)"
route "touch /tmp/nginx/route/$new_color && rm -f /tmp/nginx/route/$old_color"
# Requests routed just before the switch have connected to the old replicas by now.
sleep 1

log "stopping the old replica(s) gracefully"
docker stop -t 30 "${old[@]}" >/dev/null
docker rm "${old[@]}" >/dev/null
sleep "$resolver_wait"
route "rm -f /tmp/nginx/route/$new_color"

log "replacing the worker and the scheduler (running jobs finish first)"
# Not --no-deps, so the next `make up` finds them as it would have made them. Recreated even
# when the build is unchanged, as the app replicas are: a deploy always leaves fresh processes.
compose up -d --wait --wait-timeout 180 --force-recreate worker scheduler >/dev/null 2>&1 \
  || { log "the new worker or scheduler did not become healthy: see make logs SERVICE=worker"; exit 1; }
log "done: $(compose ps -q app | wc -l) replica(s) of the new build serve; the worker runs it too"
