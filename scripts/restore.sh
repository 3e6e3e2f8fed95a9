#!/usr/bin/env bash
# Restore a dump into the stack's database, in one transaction (all or nothing); hand its
# tables to the roles again (the db-setup job); then empty the cache (a restart empties Redis,
# which keeps nothing), so no entry older than the data survives.
#
#   scripts/restore.sh backups/<file>.dump        a dump `make backup` wrote
#   scripts/restore.sh <file>.dump.age            an encrypted dump of the backup service
#   scripts/restore.sh bucket:latest              the newest dump in the backup service's bucket
#   scripts/restore.sh bucket:<name>              a named one (BACKUP_S3_* as for the service)
#
# AGE_KEY is the age private key file an encrypted dump is decrypted with (default
# secrets/backup_age_identity). It refuses, each time with one sentence and nothing changed: a
# missing file, a dump it cannot decrypt, a file that is not a dump of this database, and a
# database that still holds rows, unless REPLACE=1.
set -euo pipefail
cd "$(dirname "$0")/.."

source=${1:-}
db=${POSTGRES_DB:-app}
key=${AGE_KEY:-${SECRETS_DIR:-./secrets}/backup_age_identity}
usage="usage: make restore BACKUP=backups/<file>.dump | BACKUP=bucket:latest | BACKUP=bucket:<name> [AGE_KEY=<file>] [REPLACE=1]"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
plain="$work/plain.dump"

refuse() {
  echo "$*" >&2
  exit 2
}

# The backup service's image fetches and decrypts (boto3, age): the plain dump on stdout, the
# key on stdin. Its refusal is the last line of its stderr (before it, Compose's progress).
fetch() {
  local keyfile=/dev/null
  [ -r "$key" ] && keyfile=$key
  if ! scripts/compose.sh --profile backup run --rm --no-deps -T "$@" backup \
    python -m pgbackup fetch "$target" < "$keyfile" > "$plain" 2> "$work/stderr"; then
    refuse "$(grep -v '^ *\(Container\|Network\|Volume\|Image\) ' "$work/stderr" | tail -n 1)"
  fi
}

case "$source" in
  bucket:*)
    target=${source#bucket:}
    [ -n "$target" ] || refuse "$usage"
    fetch
    ;;
  *)
    if [ -z "$source" ] || [ ! -f "$source" ]; then
      refuse "$usage (no such file: '${source}')"
    fi
    if [ "$(head -c 21 "$source" | tr -d '\0')" = "age-encryption.org/v1" ]; then
      # The container's user reads the ciphertext through a mount (it is no secret).
      name=$(basename "$source")
      mkdir -m 755 "$work/in"
      install -m 644 "$source" "$work/in/$name"
      target=/restore/$name
      fetch -v "$work/in/$name:$target:ro"
    else
      cp "$source" "$plain"
    fi
    ;;
esac

if [ "$(head -c 5 "$plain" | tr -d '\0')" != "PGDMP" ]; then
  refuse "$source is not a dump of this database: it is not a pg_dump custom-format file."
fi
dumped=$(scripts/compose.sh exec -T postgres pg_restore --list < "$plain" 2>/dev/null \
  | sed -n 's/^;[[:space:]]*dbname: //p') || true
if [ "$dumped" != "$db" ]; then
  refuse "$source is not a dump of this database: it is of '${dumped:-an unreadable dump}', not of '$db'."
fi

# Rows in any table but those the stack writes by itself, with no request: the migration
# version, and the periodic jobs' claims (app/jobs/runs.py: the scheduler claims a period every
# hour on the clock, so a stack brought up for the restore holds one within the hour). A
# database that holds data is not replaced unless asked to. (\gexec runs each generated query:
# one line per table that has a row.)
holding=$(scripts/compose.sh exec -T postgres sh -c 'exec psql -X -Atq -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"' <<'SQL' | paste -sd, | sed 's/,/, /g'
SELECT format('SELECT %L FROM %I.%I LIMIT 1', schemaname || '.' || tablename, schemaname, tablename)
FROM pg_tables
WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
  AND tablename NOT IN ('alembic_version', 'periodic_runs')
\gexec
SQL
)
if [ -n "$holding" ] && [ "${REPLACE:-}" != 1 ]; then
  refuse "The database $db still holds rows (in $holding): run again with REPLACE=1 to replace them with $source."
fi

scripts/compose.sh exec -T postgres sh -c 'exec pg_restore -U "$POSTGRES_USER" -d "$POSTGRES_DB" --clean --if-exists --no-owner --single-transaction --exit-on-error' < "$plain"
scripts/compose.sh run --rm --no-deps db-setup >/dev/null
scripts/compose.sh restart redis >/dev/null
scripts/compose.sh up -d --no-deps --wait redis >/dev/null
echo "restored $source"
