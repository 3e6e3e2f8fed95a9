#!/bin/sh
# PING as the read-only `monitor` user (the default user is disabled). The cache and the
# broker each name their monitor's password file in MONITOR_PASSWORD_FILE.
REDISCLI_AUTH=$(cat "${MONITOR_PASSWORD_FILE:-/run/secrets/redis_monitor_password}") \
  redis-cli --no-auth-warning --user monitor ping | grep -q PONG
