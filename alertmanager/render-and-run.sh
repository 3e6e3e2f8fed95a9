#!/bin/sh
# Alertmanager's configuration cannot read the environment, so render it at start into the
# tmpfs: with ALERT_WEBHOOK_URL set, every alert goes to that webhook; without it, alerts are
# kept in Alertmanager (visible in its API) and delivered nowhere.
set -eu
out=/tmp/alertmanager.yml
if [ -n "${ALERT_WEBHOOK_URL:-}" ]; then
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
      - url: "${ALERT_WEBHOOK_URL}"
        send_resolved: true
CONFIG
fi
exec /bin/alertmanager --config.file="$out" --storage.path=/alertmanager \
  --cluster.listen-address= "$@"
