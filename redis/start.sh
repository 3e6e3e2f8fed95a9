#!/bin/sh
# Redis as the app's cache, with one ACL user per client and the default user disabled:
#   app      its own keys (CACHE_KEY_PREFIX) and only the commands the cache uses; nothing
#            dangerous (no KEYS, FLUSHALL, CONFIG, DEBUG, MODULE...)
#   monitor  the exporter and the healthcheck: read-only server information, no data
# The config is written to the tmpfs from the secret files (passwords as SHA-256 hashes), so no
# password is in the command line or the environment. A pure cache: no persistence, bounded
# memory, least-recently-used eviction.
set -eu
hashed() { printf '%s' "$(cat "$1")" | sha256sum | cut -d' ' -f1; }
umask 077
cat > /tmp/redis.conf <<CONF
user default off
user app on #$(hashed /run/secrets/redis_app_password) ~${CACHE_KEY_PREFIX}* resetchannels -@all +@connection +get +set +setex +mget +del +unlink +exists +expire +eval +evalsha +script|load
user monitor on #$(hashed /run/secrets/redis_monitor_password) resetkeys resetchannels -@all +@connection +info +dbsize +config|get +slowlog +latency +client|list +cluster|info +memory|stats +select
save ""
appendonly no
maxmemory ${REDIS_MAXMEMORY}
maxmemory-policy allkeys-lru
CONF
exec redis-server /tmp/redis.conf
