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

# The certificate. nginx serves a copy in $NGINX_SERVED_CERT_DIR of one of two sources: the
# ACME certificate when the `acme` service has installed one (its `live` generation, whose two
# files never change once written), otherwise the default one (self-signed by `make up`, or
# the Kubernetes Secret). A watcher checks the sources every NGINX_CERT_POLL_SECONDS; on a
# change it copies the new pair, checks it with `nginx -t` and reloads nginx gracefully (old
# workers finish their requests), or puts the old pair back if nginx refuses the new one.
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

# Copy the pair in $1 to the served directory, each file replaced by a rename.
serve_certificate() {
  for name in fullchain.pem privkey.pem; do
    cat "$1/$name" > "$NGINX_SERVED_CERT_DIR/.$name.new" || return 1
    mv -f "$NGINX_SERVED_CERT_DIR/.$name.new" "$NGINX_SERVED_CERT_DIR/$name"
  done
}

# Keep the pair served before a change, to go back to if nginx refuses the new one.
keep_previous() {
  cp -f "$NGINX_SERVED_CERT_DIR/fullchain.pem" "$NGINX_SERVED_CERT_DIR/.previous-fullchain.pem"
  cp -f "$NGINX_SERVED_CERT_DIR/privkey.pem" "$NGINX_SERVED_CERT_DIR/.previous-privkey.pem"
}

restore_previous() {
  mv -f "$NGINX_SERVED_CERT_DIR/.previous-fullchain.pem" "$NGINX_SERVED_CERT_DIR/fullchain.pem"
  mv -f "$NGINX_SERVED_CERT_DIR/.previous-privkey.pem" "$NGINX_SERVED_CERT_DIR/privkey.pem"
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
    keep_previous
    if serve_certificate "$next" && nginx -q -t -c "$out/nginx.conf" 2>/dev/null; then
      if nginx -s reload -c "$out/nginx.conf"; then
        echo "nginx: certificate from $next reloaded" >&2
      fi
      rm -f "$NGINX_SERVED_CERT_DIR/.previous-fullchain.pem" "$NGINX_SERVED_CERT_DIR/.previous-privkey.pem"
      source=$next sum=$next_sum
    else
      restore_previous
      echo "nginx: the certificate in $next was refused (nginx -t); still serving the previous one" >&2
      # Not again until it changes.
      source=$next sum=$next_sum
    fi
  done
}

# The copies, the key among them, are nginx's alone.
umask 077
mkdir -p "$NGINX_SERVED_CERT_DIR"
source_dir=$(certificate_source)
serve_certificate "$source_dir"
if [ "$source_dir" != "$NGINX_CERT_DIR" ] && ! nginx -q -t -c "$out/nginx.conf" 2>/dev/null; then
  echo "nginx: the certificate in $source_dir was refused (nginx -t); serving the one in $NGINX_CERT_DIR" >&2
  serve_certificate "$NGINX_CERT_DIR"
fi
nginx -q -t -c "$out/nginx.conf"
if [ "${1:-}" = nginx ]; then
  # In the background for as long as the container runs (nginx, exec'd below, becomes its
  # parent); it stops with the container.
  watch_certificates "$source_dir" "$(certificate_sum "$source_dir")" &
fi
exec "$@"
