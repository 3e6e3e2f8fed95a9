#!/bin/sh
# Render /etc/nginx/flask-stack/templates/*.template into /tmp/nginx (a tmpfs: the root
# filesystem is read-only), validate with `nginx -t`, then exec the command.
set -eu

# Settings users change (`.env.example` documents them); their defaults live here only.
NGINX_SERVER_NAME=${SERVER_NAME:-localhost 127.0.0.1}
# The HTTPS port clients see: redirects and the app's absolute URLs use it. Each orchestrator
# sets it beside the port it publishes (compose.yaml, the k8s nginx-env).
NGINX_PUBLIC_HTTPS_PORT=${HTTPS_PORT:?HTTPS_PORT must be the public HTTPS port}
NGINX_HSTS_MAX_AGE=${HSTS_MAX_AGE:-31536000}
# Per client address: /api, pages and health, static files; and open connections.
NGINX_RATE_LIMIT=${RATE_LIMIT:-30r/s}
NGINX_RATE_BURST=${RATE_BURST:-60}
NGINX_PAGE_RATE_LIMIT=${PAGE_RATE_LIMIT:-10r/s}
NGINX_PAGE_RATE_BURST=${PAGE_RATE_BURST:-30}
NGINX_STATIC_RATE_LIMIT=${STATIC_RATE_LIMIT:-100r/s}
NGINX_STATIC_RATE_BURST=${STATIC_RATE_BURST:-200}
NGINX_CONN_LIMIT=${CONN_LIMIT:-64}
NGINX_PROXY_CONNECT_TIMEOUT=${PROXY_CONNECT_TIMEOUT:-3s}
NGINX_PROXY_READ_TIMEOUT=${PROXY_READ_TIMEOUT:-25s}
NGINX_PROXY_SEND_TIMEOUT=${PROXY_SEND_TIMEOUT:-25s}
NGINX_FORWARDED_PREFIX=${FORWARDED_PREFIX:-}
NGINX_WORKER_CONNECTIONS=${NGINX_WORKER_CONNECTIONS:-1024}
# Wiring each orchestrator sets: where the app is, the DNS that finds its replicas, the
# certificate. The app's name is resolved per request (cached NGINX_RESOLVER_VALID), so
# replicas that come and go are followed without a reload: see nginx.conf.template.
NGINX_UPSTREAM=${NGINX_UPSTREAM:-app:8000}
# Docker's embedded DNS; in Kubernetes, the cluster DNS service.
NGINX_RESOLVER=${NGINX_RESOLVER:-127.0.0.11}
NGINX_RESOLVER_VALID=${NGINX_RESOLVER_VALID:-2s}
NGINX_CERT_DIR=${NGINX_CERT_DIR:-/etc/nginx/certs}
# Where the `acme` service installs the certificate it obtains (docs/certificates.md): when one
# is there, it is served instead of the default one in NGINX_CERT_DIR.
NGINX_ACME_CERT_DIR=${NGINX_ACME_CERT_DIR:-/etc/nginx/acme}
# How often the certificate files are checked for a change, which reloads nginx (seconds).
NGINX_CERT_POLL_SECONDS=${CERT_POLL_SECONDS:-5}
NGINX_UPSTREAM_HOST=${NGINX_UPSTREAM%:*}
NGINX_UPSTREAM_PORT=${NGINX_UPSTREAM##*:}
# The port part of redirect targets: empty for the default HTTPS port.
if [ "$NGINX_PUBLIC_HTTPS_PORT" = 443 ]; then
  NGINX_PUBLIC_HTTPS_PORT_SUFFIX=""
else
  NGINX_PUBLIC_HTTPS_PORT_SUFFIX=":$NGINX_PUBLIC_HTTPS_PORT"
fi
export NGINX_SERVER_NAME NGINX_PUBLIC_HTTPS_PORT NGINX_PUBLIC_HTTPS_PORT_SUFFIX NGINX_HSTS_MAX_AGE \
  NGINX_RATE_LIMIT NGINX_RATE_BURST NGINX_PAGE_RATE_LIMIT NGINX_PAGE_RATE_BURST \
  NGINX_STATIC_RATE_LIMIT NGINX_STATIC_RATE_BURST NGINX_CONN_LIMIT \
  NGINX_PROXY_CONNECT_TIMEOUT NGINX_PROXY_READ_TIMEOUT \
  NGINX_PROXY_SEND_TIMEOUT NGINX_FORWARDED_PREFIX NGINX_WORKER_CONNECTIONS NGINX_UPSTREAM_HOST \
  NGINX_UPSTREAM_PORT NGINX_RESOLVER NGINX_RESOLVER_VALID NGINX_CERT_DIR NGINX_SERVED_CERT_DIR

out=/tmp/nginx
# nginx reads its certificate from a copy of its own here (see serve_certificate below).
NGINX_SERVED_CERT_DIR=$out/tls
mkdir -p "$out/snippets"
# Buffered request bodies and responses: their own tmpfs (compose.yaml), apart from the config.
buffers=/var/cache/nginx
mkdir -p "$buffers/client_body" "$buffers/proxy" "$buffers/fastcgi" "$buffers/uwsgi" "$buffers/scgi"
# Only our own NGINX_* variables are substituted; nginx's $variables stay as they are.
vars=$(env | sed -n 's/^\(NGINX_[A-Z0-9_]*\)=.*/${\1}/p' | tr '\n' ' ')
templates=/etc/nginx/flask-stack/templates
for template in "$templates"/*.template "$templates"/snippets/*.template; do
  target="$out/${template#"$templates"/}"
  envsubst "$vars" < "$template" > "${target%.template}"
done

# scripts/deploy.sh moves traffic between old and new replicas by creating route/blue or
# route/green here (nginx.conf.template checks for them per request): no reload, so no client
# connection is ever closed by a deploy.
mkdir -p "$out/route"

# The certificate. nginx serves a copy of one of two sources: the ACME certificate when the
# `acme` service has installed one (its `live` generation, whose two files never change once
# written), otherwise the default one (self-signed by `make up`, or the Kubernetes Secret).
# Each copy is a generation directory under $NGINX_SERVED_CERT_DIR, and `live` points at the
# newest. nginx.conf names the files through a variable, so it loads them per TLS handshake:
# switching `live` (one rename) serves a new certificate from the next handshake on, with no
# reload, which would close every client's idle keep-alive connection. A watcher checks the
# sources every NGINX_CERT_POLL_SECONDS; a pair that nginx cannot load is refused and the one
# served stays.
if [ ! -r "$NGINX_CERT_DIR/fullchain.pem" ] || [ ! -r "$NGINX_CERT_DIR/privkey.pem" ]; then
  echo "nginx: no readable certificate at $NGINX_CERT_DIR/fullchain.pem and privkey.pem (make up creates a self-signed one)" >&2
  exit 1
fi

# The directory of the pair to serve now.
certificate_source() {
  if acme_live=$(readlink -f "$NGINX_ACME_CERT_DIR/live" 2>/dev/null) \
    && [ -r "$acme_live/fullchain.pem" ] && [ -r "$acme_live/privkey.pem" ]; then
    echo "$acme_live"
  else
    echo "$NGINX_CERT_DIR"
  fi
}

# A fingerprint of a pair: what changed is all the watcher needs to know.
certificate_sum() {
  cat "$1/fullchain.pem" "$1/privkey.pem" 2>/dev/null | cksum
}

# Whether nginx can serve the pair in $1 (the certificate parses, the key matches it): `nginx
# -t` on a configuration that names them directly, as the served one does not.
loadable() {
  cat > "$out/check-certificate.conf" <<EOF
pid $out/check-certificate.pid;
error_log stderr;
events {}
http {
    client_body_temp_path $buffers/client_body;
    proxy_temp_path $buffers/proxy;
    fastcgi_temp_path $buffers/fastcgi;
    uwsgi_temp_path $buffers/uwsgi;
    scgi_temp_path $buffers/scgi;
    server {
        listen 127.0.0.1:8443 ssl;
        ssl_certificate $1/fullchain.pem;
        ssl_certificate_key $1/privkey.pem;
    }
}
EOF
  nginx -q -t -c "$out/check-certificate.conf" 2>&1
}

generation=0
# Copy the pair in $1 into a new generation, check it, and point `live` at it.
serve_certificate() {
  generation=$((generation + 1))
  new="$NGINX_SERVED_CERT_DIR/generation-$generation"
  rm -rf "$new" && mkdir "$new" || return 1
  refusal=unreadable
  if ! cat "$1/fullchain.pem" > "$new/fullchain.pem" || ! cat "$1/privkey.pem" > "$new/privkey.pem" \
    || ! refusal=$(loadable "$new"); then
    echo "nginx: the certificate in $1 cannot be served: $refusal" >&2
    rm -rf "$new"
    return 1
  fi
  ln -sfn "generation-$generation" "$NGINX_SERVED_CERT_DIR/.live.new"
  mv -fT "$NGINX_SERVED_CERT_DIR/.live.new" "$NGINX_SERVED_CERT_DIR/live"
  # The one before stays: a handshake that began before the switch may still read it.
  rm -rf "$NGINX_SERVED_CERT_DIR/generation-$((generation - 2))"
}

watch_certificates() {
  source="$1" sum="$2"
  # A failed step waits for the next round; it never ends the watcher.
  set +e
  while sleep "$NGINX_CERT_POLL_SECONDS"; do
    next=$(certificate_source)
    next_sum=$(certificate_sum "$next")
    if [ "$next" = "$source" ] && [ "$next_sum" = "$sum" ]; then
      continue
    fi
    if serve_certificate "$next"; then
      echo "nginx: serving the certificate from $next from the next handshake on (no reload)" >&2
    else
      echo "nginx: still serving the previous certificate" >&2
    fi
    # Not again until it changes.
    source=$next sum=$next_sum
  done
}

# The copies, the key among them, are nginx's alone.
umask 077
mkdir -p "$NGINX_SERVED_CERT_DIR"
source_dir=$(certificate_source)
if ! serve_certificate "$source_dir"; then
  [ "$source_dir" != "$NGINX_CERT_DIR" ] || exit 1
  echo "nginx: serving the one in $NGINX_CERT_DIR instead" >&2
  serve_certificate "$NGINX_CERT_DIR" || exit 1
fi
nginx -q -t -c "$out/nginx.conf"
if [ "${1:-}" = nginx ]; then
  # In the background for as long as the container runs (nginx, exec'd below, becomes its
  # parent); it stops with the container.
  watch_certificates "$source_dir" "$(certificate_sum "$source_dir")" &
fi
exec "$@"
