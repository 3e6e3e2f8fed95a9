#!/usr/bin/env bash
# Install Docker Engine, Compose v2 and buildx on Debian or Ubuntu where they are missing, and
# start the daemon when it is not running. Idempotent: every step checks first. Needs root.
#   Debian: docker.io from Debian; Compose v2 and buildx unpacked from Debian 13's packages of
#           the same mirror (Debian 12 ships only Compose v1). Both need only libc6.
#   Ubuntu: docker.io, docker-compose-v2 and docker-buildx from Ubuntu's own archive.
set -euo pipefail

log() { printf '[install-docker] %s\n' "$*"; }

[ "$(id -u)" = 0 ] || { log "needs root (run it with sudo)"; exit 1; }
command -v apt-get >/dev/null || { log "needs apt-get (Debian or Ubuntu)"; exit 1; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
available() { apt-cache show "$1" >/dev/null 2>&1; }

plugins_from_debian_trixie() {  # package...
  local work src uris signed
  work=$(mktemp -d)
  src=/etc/apt/sources.list.d/debian.sources
  [ -f "$src" ] || { log "no $src: cannot locate a Debian mirror for Compose v2"; exit 1; }
  uris=$(awk '/^URIs:/ {print $2; exit}' "$src")
  signed=$(awk '/^Signed-By:/ {print $2; exit}' "$src")
  mkdir -p "$work/lists/partial" "$work/srcparts" "$work/x"
  printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' \
    "$uris" "$signed" > "$work/srcparts/trixie.sources"
  local opts=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$work/srcparts"
              -o Dir::State::Lists="$work/lists" -o Dir::Cache::pkgcache=""
              -o Dir::Cache::srcpkgcache="")
  apt-get "${opts[@]}" update -qq
  (cd "$work" && apt-get "${opts[@]}" download "$@" >/dev/null)
  for deb in "$work"/*.deb; do
    dpkg -x "$deb" "$work/x"
  done
  mkdir -p /usr/libexec/docker/cli-plugins
  cp "$work"/x/usr/libexec/docker/cli-plugins/* /usr/libexec/docker/cli-plugins/
  rm -rf "$work"
}

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing Docker Engine (docker.io)"
  apt_install docker.io
fi

missing=()
docker compose version >/dev/null 2>&1 || missing+=(compose)
docker buildx version >/dev/null 2>&1 || missing+=(buildx)
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$apt_updated" = 1 ] || { apt-get update -qq; apt_updated=1; }
  if available docker-compose-v2; then
    log "installing ${missing[*]} (docker-compose-v2, docker-buildx)"
    apt_install docker-compose-v2 docker-buildx
  else
    log "installing ${missing[*]} as CLI plugins from Debian 13 (trixie)"
    plugins_from_debian_trixie docker-compose docker-buildx
  fi
fi

if ! docker info >/dev/null 2>&1; then
  log "starting the Docker daemon"
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl start docker
  else
    (dockerd >/var/log/dockerd.log 2>&1 &)
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { log "the daemon did not start; see /var/log/dockerd.log"; exit 1; }
fi
log "$(docker version --format 'engine {{.Server.Version}}') / compose $(docker compose version --short)"
