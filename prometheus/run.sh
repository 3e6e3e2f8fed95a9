#!/bin/sh
# Prometheus's start. Published on loopback (PROMETHEUS_BIND_ADDRESS 127.0.0.1, the default), it
# serves plain HTTP. Published anywhere else, it serves only TLS with basic auth, through its
# own --web.config.file (secrets/prometheus_web.yml, written by the first `make up` with the
# bcrypt hash of secrets/prometheus_password), and scrapes itself the same way.
set -eu
config=/etc/prometheus/prometheus.yml
case "${PROMETHEUS_BIND_ADDRESS:-127.0.0.1}" in
  127.*|::1|localhost)
    exec /bin/prometheus --config.file="$config" "$@"
    ;;
esac
web=/run/secrets/prometheus_web
if [ ! -s "$web" ]; then
  echo "prometheus: PROMETHEUS_BIND_ADDRESS=$PROMETHEUS_BIND_ADDRESS needs $web (make up writes it)" >&2
  exit 1
fi
# The self-scrape job speaks the same TLS and basic auth as every other client, and checks the
# certificate (issued to localhost, the target's name).
while IFS= read -r line; do
  printf '%s\n' "$line"
  case "$line" in
    *"job_name: prometheus")
      printf '    scheme: https\n    tls_config: { ca_file: /run/secrets/prometheus_tls_cert }\n'
      printf '    basic_auth: { username: prometheus, password_file: /run/secrets/prometheus_password }\n'
      ;;
  esac
done < "$config" > /tmp/prometheus.yml
exec /bin/prometheus --config.file=/tmp/prometheus.yml --web.config.file="$web" "$@"
