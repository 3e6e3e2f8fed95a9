#!/usr/bin/env bash
# Build stand-ins for the upstream images from Debian 12 packages, for machines where no
# container registry answers. Writes ../images.env with the variables that select them and
# prints it. Nothing is retagged under an upstream name: every stand-in is called
# flask-stack-offline/<name>:<debian version>. See README.md beside this script.
#   build.sh                  the base (when absent), every stand-in, images.env
#   build.sh --base-only TAG  only a base image, from nothing, under TAG (CI's cold-path check)
#   build.sh --print-base     the base image's name
#   build.sh --print-variables  the variables images.env sets, one a line (ensure.sh checks them)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${OFFLINE_IMAGES_ENV:-$root/images.env}
prefix=flask-stack-offline
base=$prefix/debian:bookworm

log() { printf '[offline-images] %s\n' "$*" >&2; }

# Every stand-in, once: the variable of compose.yaml it replaces, its folder here, its tag (the
# Debian package's version).
STANDINS=(
  "PYTHON_IMAGE python 3.11"
  "NGINX_IMAGE nginx 1.22"
  "POSTGRES_IMAGE postgres 15"
  "REDIS_IMAGE redis 7.0"
  "PROMETHEUS_IMAGE prometheus 2.42"
  "ALERTMANAGER_IMAGE alertmanager 0.25"
  "POSTGRES_EXPORTER_IMAGE postgres-exporter 0.11"
  "REDIS_EXPORTER_IMAGE redis-exporter 1.45"
  "NGINX_EXPORTER_IMAGE nginx-exporter 0.11"
  "BLACKBOX_EXPORTER_IMAGE blackbox-exporter 0.23"
)

# Global, not local to build_base: the EXIT trap runs after that function has returned.
rootfs=""
trap 'if [ -n "$rootfs" ]; then rm -rf "$rootfs"; fi' EXIT

build_base() {  # tag
  local tag=$1 sources=/etc/apt/sources.list.d/debian.sources mirror
  command -v debootstrap >/dev/null || { log "debootstrap is needed to build $tag (apt-get install debootstrap)"; exit 1; }
  [ "$(id -u)" = 0 ] || { log "building $tag with debootstrap needs root"; exit 1; }
  mirror=$(awk '/^URIs:/ {print $2; exit}' "$sources")
  rootfs=$(mktemp -d)
  log "debootstrap bookworm from $mirror (about 30 s)"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
  # The image uses the same package sources and trusts the same CA bundle as this machine,
  # so apt-get and pip work inside builds even where HTTPS is re-signed by a local CA.
  rm -f "$rootfs/etc/apt/sources.list"
  cp "$sources" "$rootfs/etc/apt/sources.list.d/debian.sources"
  mkdir -p "$rootfs/usr/local/share/offline-ca"
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/usr/local/share/offline-ca/ca-certificates.crt"
  # Package scripts must not try to start services while images build.
  printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" -c . | docker import \
    -c 'ENV PIP_CERT=/usr/local/share/offline-ca/ca-certificates.crt' \
    -c 'ENV REQUESTS_CA_BUNDLE=/usr/local/share/offline-ca/ca-certificates.crt' \
    -c 'CMD ["bash"]' - "$tag" >/dev/null
  rm -rf "$rootfs"
  rootfs=""
  log "built $tag"
}

build_standin() {  # name tag
  local name=$1 tag=$2
  log "building $prefix/$name:$tag"
  docker build -q --build-arg BASE_IMAGE="$base" -t "$prefix/$name:$tag" "$here/$name" >/dev/null
}

case "${1:-}" in
  --print-base)
    echo "$base"
    exit 0
    ;;
  --print-variables)
    for standin in "${STANDINS[@]}"; do echo "${standin%% *}"; done
    exit 0
    ;;
  --base-only)
    build_base "${2:?--base-only needs a tag}"
    exit 0
    ;;
  "") ;;
  *)
    log "unknown option: $1"
    exit 2
    ;;
esac

docker image inspect "$base" >/dev/null 2>&1 || build_base "$base"
for standin in "${STANDINS[@]}"; do
  read -r _ name tag <<<"$standin"
  build_standin "$name" "$tag"
done

{
  echo "# Written by offline-images/build.sh: stand-ins built from Debian 12 packages."
  echo "# Delete this file to go back to the upstream images."
  for standin in "${STANDINS[@]}"; do
    read -r variable name tag <<<"$standin"
    echo "$variable=$prefix/$name:$tag"
  done
} > "$out"
log "wrote $out:"
cat "$out"
