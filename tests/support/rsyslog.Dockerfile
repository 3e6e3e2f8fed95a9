# rsyslog (Debian package) as the syslog receiver of the log-shipping test (tests/e2e/test_logs.py),
# on the stack's own Python base image: it builds wherever the stack builds. It listens on TCP
# 5514 and writes every message it receives, as received, to /var/log/received/all.log.
ARG PYTHON_IMAGE
FROM ${PYTHON_IMAGE}
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rsyslog \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/log/received \
    && chown 65534:65534 /var/log/received \
    && printf '%s\n' \
       'module(load="imtcp")' \
       'input(type="imtcp" port="5514")' \
       'template(name="raw" type="string" string="%HOSTNAME% %APP-NAME% %msg%\n")' \
       '*.* action(type="omfile" file="/var/log/received/all.log" template="raw")' \
       > /etc/rsyslog-receiver.conf
USER 65534:65534
ENTRYPOINT ["rsyslogd", "-n", "-f", "/etc/rsyslog-receiver.conf", "-i", "/tmp/rsyslogd.pid"]
