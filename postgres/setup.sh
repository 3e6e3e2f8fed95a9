#!/bin/sh
# The `db-setup` job: wait for Postgres, then apply roles.sql as the superuser. The role names
# come from the environment (compose.yaml), the passwords from the secret files.
set -eu
PGPASSWORD=$(cat /run/secrets/postgres_password)
export PGPASSWORD PGHOST="${POSTGRES_HOST:-postgres}" PGUSER="$POSTGRES_USER" PGDATABASE="$POSTGRES_DB"
tries=${DB_SETUP_WAIT_SECONDS:-60}
until pg_isready -q; do
  tries=$((tries - 1))
  [ "$tries" -gt 0 ] || { echo "db-setup: Postgres at $PGHOST did not answer" >&2; exit 1; }
  sleep 1
done
psql -q -X -v owner="$DB_OWNER" -v app="$DB_APP_USER" -v monitor="$DB_MONITOR_USER" \
  -v db="$POSTGRES_DB" -f "$(dirname "$0")/roles.sql"
echo "db-setup: roles $DB_OWNER, $DB_APP_USER and $DB_MONITOR_USER are in place on $POSTGRES_DB"
