#!/bin/bash
# Healthcheck with the image's own tools (bash's /dev/tcp): nginx answers on its internal port.
exec 3<>/dev/tcp/127.0.0.1/8081 || exit 1
printf 'GET /nginx-health HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
IFS= read -r status <&3
case "$status" in
  "HTTP/1."?" 200 "*) exit 0 ;;
  *) exit 1 ;;
esac
