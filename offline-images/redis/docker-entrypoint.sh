#!/bin/sh
# As upstream: options or a .conf file as the first argument are passed to redis-server.
set -e
case "$1" in
  -*|*.conf) set -- redis-server "$@" ;;
esac
exec "$@"
