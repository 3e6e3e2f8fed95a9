#!/bin/sh
# The blackbox exporter's start. Its configuration cannot read the environment, so the server
# name the probes ask for is written into it here, into the tmpfs: the first name of
# SERVER_NAME (nginx's names; localhost by default), as a client would ask for it.
set -eu
name=${PROBE_SERVER_NAME:-localhost}
name=${name%% *}
case "$name" in
  *[!A-Za-z0-9.:-]*|"")
    echo "blackbox: the server name '$name' (first of SERVER_NAME) is not a host name" >&2
    exit 1
    ;;
esac
umask 077
sed "s/@SERVER_NAME@/$name/g" /etc/blackbox/blackbox.yml > /tmp/blackbox.yml
exec /bin/blackbox_exporter --config.file=/tmp/blackbox.yml "$@"
