#!/usr/bin/env bash
# Restore a custom-format dump made by `make backup` into the stack's database, in one
# transaction (all or nothing), then empty the cache so no entry older than the data survives.
set -euo pipefail
cd "$(dirname "$0")/.."

file=${1:-}
if [ -z "$file" ] || [ ! -f "$file" ]; then
  echo "usage: make restore BACKUP=backups/<file>.dump (no such file: '${file}')" >&2
  exit 2
fi
if [ "$(head -c 5 "$file")" != "PGDMP" ]; then
  echo "$file is not a pg_dump custom-format file" >&2
  exit 2
fi
scripts/compose.sh exec -T postgres sh -c 'exec pg_restore -U "$POSTGRES_USER" -d "$POSTGRES_DB" --clean --if-exists --no-owner --single-transaction --exit-on-error' < "$file"
scripts/compose.sh exec -T redis sh -c 'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" exec redis-cli FLUSHDB' >/dev/null
echo "restored $file"
