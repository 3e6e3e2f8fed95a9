#!/bin/sh
# Prometheus's start. Published on loopback (PROMETHEUS_BIND_ADDRESS 127.0.0.1, the default), it
# serves plain HTTP. Published anywhere else, it serves only TLS with basic auth, through its
# own --web.config.file (secrets/prometheus_web.yml, written by the first `make up` with the
# bcrypt hash of secrets/prometheus_password), and scrapes itself the same way.
# PROMETHEUS_SCRAPE_INTERVAL and PROMETHEUS_EVALUATION_INTERVAL, when set, replace the
# intervals of prometheus.yml (which holds the defaults); the scrape interval also sets how
# often the replicas' names are resolved again.
set -eu
config=/etc/prometheus/prometheus.yml
published=yes
case "${PROMETHEUS_BIND_ADDRESS:-127.0.0.1}" in
  127.*|::1|localhost) published=no ;;
esac
scrape=${PROMETHEUS_SCRAPE_INTERVAL:-}
evaluation=${PROMETHEUS_EVALUATION_INTERVAL:-}
if [ "$published" = no ] && [ -z "$scrape$evaluation" ]; then
  exec /bin/prometheus --config.file="$config" "$@"
fi

web=/run/secrets/prometheus_web
if [ "$published" = yes ] && [ ! -s "$web" ]; then
  echo "prometheus: PROMETHEUS_BIND_ADDRESS=$PROMETHEUS_BIND_ADDRESS needs $web (make up writes it)" >&2
  exit 1
fi
# The self-scrape job speaks the same TLS and basic auth as every other client, and checks the
# certificate (issued to localhost, the target's name).
while IFS= read -r line; do
  case "$line" in
    "  scrape_interval: "*) [ -z "$scrape" ] || line="  scrape_interval: $scrape" ;;
    "  evaluation_interval: "*) [ -z "$evaluation" ] || line="  evaluation_interval: $evaluation" ;;
    *"refresh_interval: "*) [ -z "$scrape" ] || line="${line%%refresh_interval: *}refresh_interval: $scrape" ;;
  esac
  printf '%s\n' "$line"
  case "$line" in
    *"job_name: prometheus")
      [ "$published" = no ] && continue
      printf '    scheme: https\n    tls_config: { ca_file: /run/secrets/prometheus_tls_cert }\n'
      printf '    basic_auth: { username: prometheus, password_file: /run/secrets/prometheus_password }\n'
      ;;
  esac
done < "$config" > /tmp/prometheus.yml
if [ "$published" = no ]; then
  exec /bin/prometheus --config.file=/tmp/prometheus.yml "$@"
fi
exec /bin/prometheus --config.file=/tmp/prometheus.yml --web.config.file="$web" "$@"
