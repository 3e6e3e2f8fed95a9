#!/bin/sh
# Alertmanager's configuration cannot read the environment, so render it at start into the
# tmpfs: with a webhook URL in the secret file alert_webhook_url, every alert goes to it; with
# the file empty, alerts are kept in Alertmanager (visible in its API) and delivered nowhere.
# The URL is a secret (it often carries a token): never an environment variable.
set -eu
if [ -n "${ALERT_WEBHOOK_URL:-}" ]; then
  echo "alertmanager: ALERT_WEBHOOK_URL is not read from the environment: write the URL into" \
    "secrets/alert_webhook_url and remove it from .env" >&2
  exit 1
fi
umask 077
out=/tmp/alertmanager.yml
webhook=$(cat /run/secrets/alert_webhook_url 2>/dev/null || true)
if [ -n "$webhook" ]; then
  receiver="webhook"
else
  receiver="none"
fi
cat > "$out" <<CONFIG
route:
  receiver: ${receiver}
  group_by: [alertname, job]
  group_wait: ${ALERT_GROUP_WAIT:-10s}
  group_interval: ${ALERT_GROUP_INTERVAL:-1m}
  repeat_interval: ${ALERT_REPEAT_INTERVAL:-4h}
receivers:
  - name: none
CONFIG
if [ "$receiver" = webhook ]; then
  cat >> "$out" <<CONFIG
  - name: webhook
    webhook_configs:
      - url: "${webhook}"
        send_resolved: true
CONFIG
fi
exec /bin/alertmanager --config.file="$out" --storage.path=/alertmanager \
  --cluster.listen-address= "$@"
