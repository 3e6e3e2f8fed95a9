#!/bin/sh
# Render /etc/nginx/flask-stack/templates/*.template into /tmp/nginx (a tmpfs: the root
# filesystem is read-only), validate with `nginx -t`, then exec the command.
set -eu

: "${NGINX_SERVER_NAME:=localhost 127.0.0.1}"
: "${NGINX_PUBLIC_HTTPS_PORT:=8443}"
: "${NGINX_HSTS_MAX_AGE:=31536000}"
: "${NGINX_RATE_LIMIT:=30r/s}"
: "${NGINX_RATE_BURST:=60}"
: "${NGINX_UPSTREAM:=app:8000}"
: "${NGINX_PROXY_CONNECT_TIMEOUT:=3s}"
: "${NGINX_PROXY_READ_TIMEOUT:=25s}"
: "${NGINX_PROXY_SEND_TIMEOUT:=25s}"
: "${NGINX_FORWARDED_PREFIX:=}"
: "${NGINX_WORKER_CONNECTIONS:=1024}"
: "${NGINX_CERT_DIR:=/etc/nginx/certs}"
# Docker's embedded DNS; in Kubernetes, the cluster DNS service (for OCSP stapling look-ups).
: "${NGINX_RESOLVER:=127.0.0.11}"
: "${NGINX_RESOLVER_VALID:=30s}"
# static: an upstream block with keepalive connections, resolved when nginx (re)loads
#         (Compose; `make deploy` rewrites it).
# dynamic: the name is resolved per request through NGINX_RESOLVER, cached NGINX_RESOLVER_VALID,
#         so replicas that come and go are followed without a reload (Swarm's dnsrr), at the
#         cost of upstream keepalive.
: "${NGINX_UPSTREAM_MODE:=static}"
# The port part of redirect targets: empty for the default HTTPS port.
if [ "$NGINX_PUBLIC_HTTPS_PORT" = 443 ]; then
  NGINX_PUBLIC_HTTPS_PORT_SUFFIX=""
else
  NGINX_PUBLIC_HTTPS_PORT_SUFFIX=":$NGINX_PUBLIC_HTTPS_PORT"
fi
export NGINX_SERVER_NAME NGINX_PUBLIC_HTTPS_PORT NGINX_PUBLIC_HTTPS_PORT_SUFFIX NGINX_HSTS_MAX_AGE \
  NGINX_RATE_LIMIT NGINX_RATE_BURST NGINX_UPSTREAM NGINX_PROXY_CONNECT_TIMEOUT \
  NGINX_PROXY_READ_TIMEOUT NGINX_PROXY_SEND_TIMEOUT NGINX_FORWARDED_PREFIX \
  NGINX_WORKER_CONNECTIONS NGINX_CERT_DIR NGINX_RESOLVER NGINX_RESOLVER_VALID

out=/tmp/nginx
mkdir -p "$out/snippets" "$out/client_body" "$out/proxy" "$out/fastcgi" "$out/uwsgi" "$out/scgi"
# Only our own NGINX_* variables are substituted; nginx's $variables stay as they are.
vars=$(env | sed -n 's/^\(NGINX_[A-Z0-9_]*\)=.*/${\1}/p' | tr '\n' ' ')
templates=/etc/nginx/flask-stack/templates
for template in "$templates"/*.template "$templates"/snippets/*.template; do
  target="$out/${template#"$templates"/}"
  envsubst "$vars" < "$template" > "${target%.template}"
done

case "$NGINX_UPSTREAM_MODE" in
  static)
    printf 'server %s;\n' "$NGINX_UPSTREAM" > "$out/upstream-servers.conf"
    printf 'proxy_pass http://app;\n' > "$out/proxy-pass.conf"
    ;;
  dynamic)
    # The upstream block stays unused; it needs a server that never has to resolve.
    printf 'server 127.0.0.1:9 down;\n' > "$out/upstream-servers.conf"
    printf 'set $app_backend "%s";\nproxy_pass http://$app_backend;\n' "$NGINX_UPSTREAM" > "$out/proxy-pass.conf"
    ;;
  *)
    echo "nginx: NGINX_UPSTREAM_MODE must be static or dynamic, not '$NGINX_UPSTREAM_MODE'" >&2
    exit 1
    ;;
esac

if [ ! -r "$NGINX_CERT_DIR/fullchain.pem" ] || [ ! -r "$NGINX_CERT_DIR/privkey.pem" ]; then
  echo "nginx: no readable certificate at $NGINX_CERT_DIR/fullchain.pem and privkey.pem (make up creates a self-signed one)" >&2
  exit 1
fi
nginx -q -t -c "$out/nginx.conf"
exec "$@"
