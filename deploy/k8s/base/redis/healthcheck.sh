#!/bin/sh
# PING as the read-only `monitor` user (the default user is disabled).
REDISCLI_AUTH=$(cat /run/secrets/redis_monitor_password) redis-cli --no-auth-warning --user monitor ping \
  | grep -q PONG
