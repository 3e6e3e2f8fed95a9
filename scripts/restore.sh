#!/usr/bin/env bash
# Restore a custom-format dump made by `make backup` into the stack's database, in one
# transaction (all or nothing); hand its tables to the roles again (the db-setup job); then
# empty the cache (a restart empties Redis, which keeps nothing), so no entry older than the
# data survives.
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
scripts/compose.sh run --rm --no-deps db-setup >/dev/null
scripts/compose.sh restart redis >/dev/null
scripts/compose.sh up -d --no-deps --wait redis >/dev/null
echo "restored $file"
