#!/usr/bin/env bash
# Replace the running app with a new build without failing a request:
#   1. build the new image and apply migrations (they must suit old and new code alike);
#   2. start as many new replicas as there are old ones and wait until they are healthy;
#   3. point nginx at old and new, then at the new ones only (a reload: nginx's old workers
#      finish what they have in flight);
#   4. stop the old replicas gracefully (SIGTERM: gunicorn finishes in-flight requests);
#   5. hand the upstream back to the service name, which now resolves to the new replicas.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[deploy] %s\n' "$*"; }
compose() { scripts/compose.sh "$@"; }

mapfile -t old < <(compose ps -q app)
if [ "${#old[@]}" -eq 0 ]; then
  echo "the app is not running: start the stack with make up" >&2
  exit 1
fi
edge_network=$(docker inspect -f '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}' "${old[0]}" | tr ' ' '\n' | grep '_edge$' || true)
if [ -z "$edge_network" ]; then
  echo "the app container is on no *_edge network: is this the stack compose.yaml describes?" >&2
  exit 1
fi

addresses() {  # container ids -> "server ip:8000;" lines
  for id in "$@"; do
    ip=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$edge_network\").IPAddress}}" "$id")
    printf 'server %s:8000;\n' "$ip"
  done
}

point_nginx_at() {  # upstream lines on stdin
  # nginx validates the new file before it reloads; its warnings (OCSP stapling with the
  # self-signed certificate) are not news here.
  # The old file comes back if nginx refuses the new one, so a later reload still works.
  if ! compose exec -T nginx sh -c 'f=/tmp/nginx/upstream-servers.conf; cp "$f" "$f.old" && cat > "$f" && { nginx -q -t -c /tmp/nginx/nginx.conf || { mv "$f.old" "$f"; exit 1; }; } && nginx -s reload -c /tmp/nginx/nginx.conf' >/dev/null 2>&1; then
    log "nginx refused the new upstream list; nothing was stopped"
    exit 1
  fi
  sleep 1  # nginx's new workers take over; its old ones drain
}

log "building the new app image"
compose build -q app
log "applying migrations"
compose run --rm --no-deps migrate >/dev/null

count=${#old[@]}
log "starting $count new replica(s) beside the $count running"
compose up -d --no-deps --no-recreate --scale "app=$((count * 2))" app >/dev/null
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
      exit 1
    fi
    sleep 1
  done
done

log "moving traffic to the new replica(s)"
{ addresses "${old[@]}"; addresses "${new[@]}"; } | point_nginx_at
addresses "${new[@]}" | point_nginx_at

log "stopping the old replica(s) gracefully"
docker stop -t 30 "${old[@]}" >/dev/null
docker rm "${old[@]}" >/dev/null
printf 'server %s;\n' "${NGINX_UPSTREAM:-app:8000}" | point_nginx_at
log "done: $(compose ps -q app | wc -l) replica(s) of the new build serve"
