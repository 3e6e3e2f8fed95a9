#!/usr/bin/env bash
# Create what a first `make up` needs, only where it is absent, so a second run changes nothing:
#   secrets/  one random secret per file (the directory is 0700); the optional ones (Sentry's
#             DSN, the alert webhook's URL) start blank, which means "not set"; Prometheus's
#             certificate and web config for when it is published beyond loopback
#   certs/    a self-signed certificate for localhost (SANs localhost, 127.0.0.1), in a 0700
#             directory: what nginx serves until the `acme` service has obtained one
#             (docs/certificates.md)
# Then every secret file and the TLS key are given to the user of the services that mount them,
# readable by nothing else (scripts/secret_permissions.py reads who that is from compose.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."

secrets_dir=${SECRETS_DIR:-./secrets}
cert_dir=${CERT_DIR:-./certs}

umask 077
mkdir -p "$secrets_dir"
chmod 700 "$secrets_dir"
for name in secret_key postgres_password db_owner_password db_app_password db_monitor_password \
  redis_app_password redis_monitor_password prometheus_password broker_app_password \
  broker_worker_password broker_monitor_password grafana_admin_password; do
  file="$secrets_dir/$name"
  if [ ! -e "$file" ]; then
    # 48 random bytes, URL-safe base64: 64 characters, no quoting trouble anywhere.
    python3 -c 'import secrets; print(secrets.token_urlsafe(48), end="")' > "$file"
    echo "created $file"
    # Postgres takes its superuser's password only when its volume is initialised: a new
    # password file beside an old volume means the roles job cannot log in.
    volume="${COMPOSE_PROJECT_NAME:-flask-stack}_postgres_data"
    if [ "$name" = postgres_password ] && docker volume inspect "$volume" >/dev/null 2>&1; then
      echo "warning: volume $volume was initialised with another password; restore the old" \
        "$file, or run make destroy (deletes the data) before make up" >&2
    fi
  fi
done
# The optional ones hold a bare newline until set: it reads as "not set" everywhere, and Swarm
# refuses a secret of zero bytes. (The backup service's: the bucket's credentials and the age
# private key, docs/operations.md#backups-and-restore.)
for name in sentry_dsn alert_webhook_url backup_s3_credentials backup_age_identity; do
  [ -s "$secrets_dir/$name" ] || echo > "$secrets_dir/$name"
done

# Prometheus, when published beyond loopback, serves TLS with basic auth: its own certificate
# and a web config holding the bcrypt hash of prometheus_password (see prometheus/run.sh).
if [ ! -e "$secrets_dir/prometheus_tls.key" ]; then
  openssl req -x509 -newkey rsa:2048 -sha256 -days 825 -nodes \
    -keyout "$secrets_dir/prometheus_tls.key" -out "$secrets_dir/prometheus_tls.crt" \
    -subj "/CN=prometheus" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
fi
if [ ! -e "$secrets_dir/prometheus_web.yml" ]; then
  # Python's crypt (libxcrypt) in the stack's own Python image makes the bcrypt hash.
  hash=$(docker run --rm -i --network none "$(scripts/python-image.sh)" python3 -W ignore -c \
    'import crypt, sys; print(crypt.crypt(sys.stdin.read(), crypt.mksalt(crypt.METHOD_BLOWFISH)))' \
    < "$secrets_dir/prometheus_password")
  case "$hash" in
    '$2'*) ;;
    *) echo "could not hash the Prometheus password (bcrypt)" >&2; exit 1 ;;
  esac
  printf '%s\n' "tls_server_config:" \
    "  cert_file: /run/secrets/prometheus_tls_cert" \
    "  key_file: /run/secrets/prometheus_tls_key" \
    "basic_auth_users:" \
    "  prometheus: $hash" > "$secrets_dir/prometheus_web.yml"
  echo "created $secrets_dir/prometheus_web.yml"
fi

mkdir -p "$cert_dir"
chmod 700 "$cert_dir"
if [ ! -e "$cert_dir/fullchain.pem" ] || [ ! -e "$cert_dir/privkey.pem" ]; then
  command -v openssl >/dev/null || { echo "openssl is needed to create the self-signed certificate: install openssl" >&2; exit 1; }
  openssl req -x509 -newkey rsa:2048 -sha256 -days 825 -nodes \
    -keyout "$cert_dir/privkey.pem" -out "$cert_dir/fullchain.pem" \
    -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature,keyEncipherment" \
    -addext "extendedKeyUsage=serverAuth" 2>/dev/null
  chmod 644 "$cert_dir/fullchain.pem"
  echo "created a self-signed certificate in $cert_dir (localhost, 127.0.0.1)"
fi

# Owners and modes: as root here; otherwise in a throwaway container (Docker's daemon is root).
config=$(mktemp)
trap 'rm -f "$config"' EXIT
scripts/compose.sh --profile '*' config --format json > "$config"
if [ "$(id -u)" = 0 ]; then
  python3 scripts/secret_permissions.py "$config"
else
  docker run --rm --network none --user 0 -v "$PWD:$PWD" -v "$config:/config.json:ro" \
    -w "$PWD" "$(scripts/python-image.sh)" python3 scripts/secret_permissions.py /config.json
fi
