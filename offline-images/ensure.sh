#!/usr/bin/env bash
# Make sure the images the stack needs can be had. Called by `make up` (and so `make test`):
# - images.env exists: the stand-ins are rebuilt if any it names is missing here, or if it lacks
#   a variable build.sh now writes (a stand-in added since it was written);
# - the upstream images are here, or a registry answers: nothing to do (Compose pulls);
# - otherwise: build the stand-ins from Debian packages and write images.env.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

if [ -f images.env ]; then
  missing=$(sed -n 's/^[A-Z_]*_IMAGE=//p' images.env | while read -r image; do
    docker image inspect "$image" >/dev/null 2>&1 || echo "$image"
  done)
  lacking=$("$here/build.sh" --print-variables | while read -r variable; do
    grep -q "^$variable=" images.env || echo "$variable"
  done)
  [ -z "$missing$lacking" ] && exit 0
  if [ -n "$missing" ]; then
    echo "images.env names stand-ins that are missing here: rebuilding them (see offline-images/README.md)"
  else
    echo "images.env has no stand-in for ${lacking//$'\n'/ }: rebuilding the stand-ins (see offline-images/README.md)"
  fi
else
  # The base image of the app, as compose.yaml resolves it: the first image Compose would pull.
  probe=$("$root/scripts/python-image.sh")
  if docker image inspect "$probe" >/dev/null 2>&1 \
    || timeout "${REGISTRY_PROBE_SECONDS:-30}" docker pull -q "$probe" >/dev/null 2>&1; then
    exit 0
  fi
  echo "no registry answers: building stand-in images from Debian packages (a few minutes the first time), see offline-images/README.md"
fi
# Quiet unless it fails: the line above is what the user needs to know.
build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT

if ! command -v debootstrap >/dev/null 2>&1 \
  && ! docker image inspect "$("$here/build.sh" --print-base)" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } \
      >"$build_log" 2>&1; then
      cat "$build_log" >&2
      exit 1
    fi
  fi
fi
"$here/build.sh" >"$build_log" 2>&1 || { cat "$build_log" >&2; exit 1; }
