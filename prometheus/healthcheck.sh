#!/bin/sh
# Ready? Over plain HTTP on loopback, or TLS with basic auth when Prometheus is published
# elsewhere (see run.sh).
case "${PROMETHEUS_BIND_ADDRESS:-127.0.0.1}" in
  127.*|::1|localhost)
    exec wget -q -O /dev/null http://127.0.0.1:9090/-/ready
    ;;
esac
auth=$(printf 'prometheus:%s' "$(cat /run/secrets/prometheus_password)" | base64 | tr -d '\n')
exec wget -q -O /dev/null --no-check-certificate --header "Authorization: Basic $auth" \
  https://127.0.0.1:9090/-/ready
