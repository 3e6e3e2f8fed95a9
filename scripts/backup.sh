#!/usr/bin/env bash
# Write a pg_dump of the stack's database, custom format, to backups/<db>-<UTC time>.dump and
# print its path. The file appears only once the dump is complete.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${BACKUP_DIR:-backups}
mkdir -p "$dir"
chmod 700 "$dir"
file="$dir/${POSTGRES_DB:-app}-$(date -u +%Y%m%dT%H%M%SZ).dump"
partial="$file.partial"
trap 'rm -f "$partial"' EXIT
scripts/compose.sh exec -T postgres sh -c 'exec pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" --format=custom' > "$partial"
mv "$partial" "$file"
chmod 600 "$file"
echo "$file"
