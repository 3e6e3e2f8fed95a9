# testssl.sh and sslscan (Debian packages) for the end-to-end TLS scan (tests/e2e/test_tls_scan.py),
# on the stack's own Python base image: it builds wherever the stack builds.
ARG PYTHON_IMAGE
FROM ${PYTHON_IMAGE}
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       testssl.sh sslscan bsdmainutils dnsutils procps \
    && rm -rf /var/lib/apt/lists/*
USER 65534:65534
ENTRYPOINT []
