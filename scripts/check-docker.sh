#!/usr/bin/env bash
# Make sure Docker Engine and Compose v2 are installed and the daemon answers. Where they are
# missing and this user may install packages (root, or passwordless sudo) on Debian or Ubuntu,
# install them with scripts/install-docker.sh; elsewhere say in one sentence what to do.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

ready() {
  command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1 \
    && docker info >/dev/null 2>&1
}
ready && exit 0

may_install=no
if [ "$(id -u)" = 0 ]; then
  may_install=yes
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  may_install=sudo
fi
if [ "$may_install" != no ] && command -v apt-get >/dev/null 2>&1 \
  && grep -qiE '^ID(_LIKE)?=.*(debian|ubuntu)' /etc/os-release 2>/dev/null; then
  echo "Docker Engine, Compose v2 or a running daemon is missing: installing them with apt (scripts/install-docker.sh)."
  if [ "$may_install" = sudo ]; then
    sudo "$here/install-docker.sh"
  else
    "$here/install-docker.sh"
  fi
  ready && exit 0
fi

if ! command -v docker >/dev/null 2>&1; then
  echo "Docker is not installed: install Docker Engine (https://docs.docker.com/engine/install/) and the Compose v2 plugin."
elif ! docker compose version >/dev/null 2>&1; then
  echo "Compose v2 is missing: install the docker-compose-plugin package (the 'docker compose' command)."
else
  echo "The Docker daemon is not reachable: start Docker (or add your user to the docker group)."
fi
exit 1
