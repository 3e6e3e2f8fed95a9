#!/bin/sh
# Redis as the job broker (the `broker` service), unlike the cache in every way that matters:
#   durable   every write is in the append-only file on the `broker_data` volume, fsynced
#             before Redis answers (appendfsync always): a restart or a crash loses no job;
#   no evictions  full, it refuses new jobs (the API answers 503) rather than dropping queued
#             ones (maxmemory-policy noeviction);
#   ACL users  app (publishes jobs: the app and the scheduler), worker (takes them), monitor
#             (the exporter and the healthcheck: read-only server information); the default
#             user is off. The job users may use any key of this dedicated instance and no
#             dangerous command (FLUSHALL, KEYS, CONFIG, DEBUG, ...).
# The config is written to the tmpfs from the secret files (passwords as SHA-256 hashes).
set -eu
hashed() { printf '%s' "$(cat "$1")" | sha256sum | cut -d' ' -f1; }
umask 077
cat > /tmp/redis.conf <<CONF
user default off
user app on #$(hashed /run/secrets/broker_app_password) ~* &* +@all -@dangerous
user worker on #$(hashed /run/secrets/broker_worker_password) ~* &* +@all -@dangerous
user monitor on #$(hashed /run/secrets/broker_monitor_password) resetkeys resetchannels -@all +@connection +info +dbsize +config|get +slowlog +latency +client|list +cluster|info +memory|stats +select
dir /data
appendonly yes
appendfsync always
save ""
maxmemory ${BROKER_MAXMEMORY}
maxmemory-policy noeviction
CONF
exec redis-server /tmp/redis.conf
