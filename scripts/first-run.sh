#!/usr/bin/env bash
# Create what a first `make up` needs, only where it is absent, so a second run changes nothing:
#   secrets/  random secrets, one file each (the directory is 0700: only you can reach them)
#   certs/    a self-signed certificate for localhost (SANs localhost, 127.0.0.1) and the
#             ACME webroot (0700 too); replace fullchain.pem/privkey.pem with a real
#             certificate any time, then `docker compose restart nginx`.
set -euo pipefail
cd "$(dirname "$0")/.."

secrets_dir=${SECRETS_DIR:-./secrets}
cert_dir=${CERT_DIR:-./certs}
acme_webroot=${ACME_WEBROOT:-./certs/acme}

umask 077
mkdir -p "$secrets_dir"
chmod 700 "$secrets_dir"
for name in secret_key postgres_password redis_password; do
  file="$secrets_dir/$name"
  if [ ! -s "$file" ]; then
    # 48 random bytes, URL-safe base64: 64 characters, no quoting trouble anywhere.
    python3 -c 'import secrets; print(secrets.token_urlsafe(48), end="")' > "$file"
    echo "created $file"
    # Postgres takes its password only when its volume is initialised: a new password file
    # beside an old volume means the app will not be able to log in.
    volume="${COMPOSE_PROJECT_NAME:-flask-stack}_postgres_data"
    if [ "$name" = postgres_password ] && docker volume inspect "$volume" >/dev/null 2>&1; then
      echo "warning: volume $volume was initialised with another password; restore the old" \
        "$file, or run make destroy (deletes the data) before make up" >&2
    fi
  fi
  # Readable inside the containers, whose non-root users differ from yours; the 0700
  # directory keeps every other user of this machine out.
  chmod 644 "$file"
done

mkdir -p "$cert_dir" "$acme_webroot/.well-known/acme-challenge"
# Like secrets/: only you can reach the key on this machine; nginx gets the files themselves.
chmod 700 "$cert_dir"
# The challenge files are public by design (port 80 serves them to the certificate authority).
chmod 755 "$acme_webroot" "$acme_webroot/.well-known" "$acme_webroot/.well-known/acme-challenge"
if [ ! -s "$cert_dir/fullchain.pem" ] || [ ! -s "$cert_dir/privkey.pem" ]; then
  command -v openssl >/dev/null || { echo "openssl is needed to create the self-signed certificate: install openssl" >&2; exit 1; }
  openssl req -x509 -newkey rsa:2048 -sha256 -days 825 -nodes \
    -keyout "$cert_dir/privkey.pem" -out "$cert_dir/fullchain.pem" \
    -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature,keyEncipherment" \
    -addext "extendedKeyUsage=serverAuth" 2>/dev/null
  echo "created a self-signed certificate in $cert_dir (localhost, 127.0.0.1)"
fi
# nginx runs as uid 101 and must read the key through the read-only bind mount.
chmod 644 "$cert_dir/fullchain.pem" "$cert_dir/privkey.pem"
