"""Every default the docs restate is checked against the file that defines it.

Each row names the words of a doc, as written, and what must hold in the file that defines the
number. A changed default then fails here until the doc follows, and a reworded doc fails until
its row follows. Numbers that the end-to-end tests measure (timeouts, limits seen from outside)
are tested there; the rows here are the ones no behaviour test reads.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


class Claim(NamedTuple):
    doc: str  # the doc, relative to the repository
    phrase: str  # its exact words (line breaks and runs of spaces count as one space)
    source: str  # the file that defines the number
    pattern: str  # a regular expression that must match in that file


@cache
def text(path: str) -> str:
    return (ROOT / path).read_text()


def words(path: str) -> str:
    return " ".join(text(path).split())


CONF = "docs/configuration.md"
OPS = "docs/operations.md"
SEC = "docs/security.md"
CONTRACT = "docs/contract.md"
CERTS = "docs/certificates.md"
SCALING = "docs/scaling.md"
PERF = "docs/performance.md"
TESTING = "docs/testing.md"
MUTATION = "docs/mutation.md"
K8S = "deploy/k8s/README.md"
OBS = "docs/observability.md"
BACKUPS = "docs/backups.md"
API = "docs/api.md"
DEV = "docs/development.md"
OFFLINE = "offline-images/README.md"
GUNICORN = "gunicorn.conf.py"
CONFIG = "app/config.py"
ENTRY = "nginx/docker-entrypoint.sh"
NGINX = "nginx/templates/nginx.conf.template"
DEPLOY = "scripts/deploy.sh"
SWARM = "deploy/swarm/compose.swarm.yaml"
BENCH = "bench/bench.py"
REPORT = "bench/report.py"
ACME = "acme/acmeloop/core.py"

CLAIMS = [
    # --- gunicorn and the database pool (configuration.md) ---------------------------------
    Claim(
        CONF, "= 2 \u00d7 (4 + 2) = 12 connections", GUNICORN, r'_env_int\("GUNICORN_WORKERS", 2\)'
    ),
    Claim(CONF, "= 2 \u00d7 (4 + 2) = 12 connections", CONFIG, r"DEFAULT_GUNICORN_THREADS = 4\b"),
    Claim(CONF, "= 2 \u00d7 (4 + 2) = 12 connections", CONFIG, r'env\.int\("DB_MAX_OVERFLOW", 2\)'),
    Claim(CONF, "2 \u00d7 4 = 8 at the defaults", GUNICORN, r'_env_int\("GUNICORN_WORKERS", 2\)'),
    Claim(CONF, "2 \u00d7 4 = 8 at the defaults", CONFIG, r"DEFAULT_GUNICORN_THREADS = 4\b"),
    Claim(
        CONF,
        "`GUNICORN_THREADS`, 4 per worker by default",
        CONFIG,
        r"DEFAULT_GUNICORN_THREADS = 4\b",
    ),
    Claim(CONF, "`DB_POOL_TIMEOUT` (5 s)", CONFIG, r'env\.int\("DB_POOL_TIMEOUT", 5\b'),
    Claim(CONF, "| `GUNICORN_TIMEOUT` | 30 s |", GUNICORN, r'_env_int\("GUNICORN_TIMEOUT", 30\)'),
    Claim(
        CONF,
        "| `GUNICORN_GRACEFUL_TIMEOUT` | 20 s |",
        GUNICORN,
        r'_env_int\("GUNICORN_GRACEFUL_TIMEOUT", 20\)',
    ),
    Claim(CONF, "`make deploy`'s `docker stop -t 30`", DEPLOY, r"docker stop -t 30 "),
    Claim(
        CONF,
        "| `GUNICORN_SHUTDOWN_DELAY` | 0 s (Swarm: 3 s) |",
        GUNICORN,
        r'"GUNICORN_SHUTDOWN_DELAY", "0"\)',
    ),
    Claim(
        CONF,
        "| `GUNICORN_SHUTDOWN_DELAY` | 0 s (Swarm: 3 s) |",
        SWARM,
        r'GUNICORN_SHUTDOWN_DELAY: "3"',
    ),
    Claim(
        CONF,
        "`GUNICORN_MAX_REQUESTS=0` (no worker recycling)",
        GUNICORN,
        r'_env_int\("GUNICORN_MAX_REQUESTS", 0\)',
    ),
    Claim(CONF, "(`maxSurge: 1`)", "deploy/k8s/base/app.yaml", r"\n\s+maxSurge: 1\n"),
    # --- nginx (configuration.md, operations.md, security.md, contract.md) -----------------
    Claim(
        CONF,
        "(`NGINX_RESOLVER_VALID`, 2 s)",
        ENTRY,
        r"NGINX_RESOLVER_VALID=\$\{NGINX_RESOLVER_VALID:-2s\}",
    ),
    Claim(
        CONF,
        "| `NGINX_RESOLVER_VALID` | `2s` |",
        ENTRY,
        r"NGINX_RESOLVER_VALID=\$\{NGINX_RESOLVER_VALID:-2s\}",
    ),
    Claim(
        CONF,
        "| `NGINX_UPSTREAM` | `app:8000` |",
        ENTRY,
        r"NGINX_UPSTREAM=\$\{NGINX_UPSTREAM:-app:8000\}",
    ),
    Claim(
        CONF,
        "| `NGINX_RESOLVER` | `127.0.0.11` |",
        ENTRY,
        r"NGINX_RESOLVER=\$\{NGINX_RESOLVER:-127\.0\.0\.11\}",
    ),
    Claim(
        CONF,
        "| `NGINX_CERT_DIR` | `/etc/nginx/certs` |",
        ENTRY,
        r"NGINX_CERT_DIR=\$\{NGINX_CERT_DIR:-/etc/nginx/certs\}",
    ),
    Claim(
        CONF,
        "(`DEPLOY_RESOLVER_WAIT_SECONDS`, 3 s)",
        DEPLOY,
        r"\$\{DEPLOY_RESOLVER_WAIT_SECONDS:-3\}",
    ),
    Claim(
        OPS,
        "(`DEPLOY_RESOLVER_WAIT_SECONDS`, 3 s)",
        DEPLOY,
        r"\$\{DEPLOY_RESOLVER_WAIT_SECONDS:-3\}",
    ),
    Claim(OPS, "(cached 2 s, `NGINX_RESOLVER_VALID`)", ENTRY, r"\$\{NGINX_RESOLVER_VALID:-2s\}"),
    Claim(SCALING, "`NGINX_RESOLVER_VALID` (2 s)", ENTRY, r"\$\{NGINX_RESOLVER_VALID:-2s\}"),
    Claim(
        CONF,
        "(`proxy_next_upstream_tries 2`)",
        "nginx/templates/snippets/proxy.conf.template",
        r"\nproxy_next_upstream_tries 2;",
    ),
    Claim(
        CONF,
        "the 1 MiB body limit (`client_max_body_size`)",
        NGINX,
        r"\n\s+client_max_body_size 1m;",
    ),
    Claim(CONF, "the 15 s header and body timeouts", NGINX, r"\n\s+client_header_timeout 15s;"),
    Claim(CONF, "the 15 s header and body timeouts", NGINX, r"\n\s+client_body_timeout 15s;"),
    Claim(
        SEC,
        "| `api` | `/api/` | `RATE_LIMIT` 30 r/s, burst `RATE_BURST` 60 |",
        ENTRY,
        r"\$\{RATE_LIMIT:-30r/s\}",
    ),
    Claim(
        SEC,
        "| `api` | `/api/` | `RATE_LIMIT` 30 r/s, burst `RATE_BURST` 60 |",
        ENTRY,
        r"\$\{RATE_BURST:-60\}",
    ),
    Claim(CONF, "under `/api` (30 r/s, burst 60)", ENTRY, r"\$\{RATE_LIMIT:-30r/s\}"),
    Claim(CONF, "under `/api` (30 r/s, burst 60)", ENTRY, r"\$\{RATE_BURST:-60\}"),
    Claim(PERF, "the default 30 r/s", ENTRY, r"\$\{RATE_LIMIT:-30r/s\}"),
    Claim(
        SEC,
        "`PAGE_RATE_LIMIT` 10 r/s, burst `PAGE_RATE_BURST` 30",
        ENTRY,
        r"\$\{PAGE_RATE_LIMIT:-10r/s\}",
    ),
    Claim(
        SEC,
        "`PAGE_RATE_LIMIT` 10 r/s, burst `PAGE_RATE_BURST` 30",
        ENTRY,
        r"\$\{PAGE_RATE_BURST:-30\}",
    ),
    Claim(SEC, "`STATIC_RATE_LIMIT` 100 r/s, burst 200", ENTRY, r"\$\{STATIC_RATE_LIMIT:-100r/s\}"),
    Claim(SEC, "`STATIC_RATE_LIMIT` 100 r/s, burst 200", ENTRY, r"\$\{STATIC_RATE_BURST:-200\}"),
    Claim(SEC, "`CONN_LIMIT` 64 open connections per client", ENTRY, r"\$\{CONN_LIMIT:-64\}"),
    Claim(SEC, "429 with `Retry-After: 1`", NGINX, r"add_header Retry-After 1 always;"),
    Claim(
        SEC,
        "up to 16 KiB (`large_client_header_buffers`)",
        NGINX,
        r"\n\s+large_client_header_buffers 4 16k;",
    ),
    Claim(SEC, "bodies up to 1 MiB", NGINX, r"\n\s+client_max_body_size 1m;"),
    Claim(SEC, "bodies up to 1 MiB", CONFIG, r"MAX_CONTENT_LENGTH = 1024 \* 1024\b"),
    Claim(CONTRACT, "within the 1 MiB body limit", NGINX, r"\n\s+client_max_body_size 1m;"),
    Claim(CONTRACT, "| body over 1 MiB | 413 |", NGINX, r"\n\s+client_max_body_size 1m;"),
    Claim(CONTRACT, "other files for a day", NGINX, r'"public, max-age=86400" always;'),
    Claim(
        CONTRACT,
        "matches `[A-Za-z0-9._-]{8,128}`",
        NGINX,
        r'"~\^\[A-Za-z0-9\._-\]\{8,128\}\$" \$http_x_request_id;',
    ),
    # --- the app's settings -------------------------------------------------------------
    Claim(
        SEC, "`HEALTH_CACHE_SECONDS` (1 s) per process", CONFIG, r"HEALTH_CACHE_DEFAULT = 1\.0\n"
    ),
    Claim(OPS, "`WORKER_CONCURRENCY` (2) processes", CONFIG, r'env\.int\("WORKER_CONCURRENCY", 2,'),
    Claim(
        OPS, "`JOB_VISIBILITY_TIMEOUT` (60 s)", CONFIG, r'env\.int\("JOB_VISIBILITY_TIMEOUT", 60,'
    ),
    Claim(OPS, "`IMPORT_BATCH_SIZE` (500)", CONFIG, r'env\.int\("IMPORT_BATCH_SIZE", 500,'),
    Claim(OPS, "`JOB_MAX_ATTEMPTS` starts (5)", CONFIG, r'env\.int\("JOB_MAX_ATTEMPTS", 5,'),
    Claim(
        OPS,
        "`IMPORT_RETENTION_SECONDS` (7 days)",
        CONFIG,
        r'env\.int\("IMPORT_RETENTION_SECONDS", 7 \* 86400,',
    ),
    Claim(
        CONTRACT,
        "`IMPORT_RETENTION_SECONDS` (7 days)",
        CONFIG,
        r'env\.int\("IMPORT_RETENTION_SECONDS", 7 \* 86400,',
    ),
    Claim(
        OPS,
        "`IMPORT_EXPIRY_INTERVAL_SECONDS` (1 hour)",
        CONFIG,
        r'"IMPORT_EXPIRY_INTERVAL_SECONDS", 3600,',
    ),
    # --- certificates -------------------------------------------------------------------
    Claim(CERTS, "`ACME_CHECK_INTERVAL` (12 h)", ACME, r'"ACME_CHECK_INTERVAL", "43200"\)'),
    Claim(CERTS, "`ACME_RENEW_BEFORE_DAYS` (30)", ACME, r'"ACME_RENEW_BEFORE_DAYS", "30"\)'),
    Claim(CERTS, "up to `ACME_RETRY_INTERVAL` (1 h)", ACME, r'"ACME_RETRY_INTERVAL", "3600"\)'),
    Claim(CERTS, "every `CERT_POLL_SECONDS` (5 s)", ENTRY, r"\$\{CERT_POLL_SECONDS:-5\}"),
    Claim(OPS, "every `CERT_POLL_SECONDS` (5 s)", ENTRY, r"\$\{CERT_POLL_SECONDS:-5\}"),
    Claim(CERTS, "(under 14 days for 1 h", "prometheus/rules/certificates.yml", r"/ 86400 < 14\n"),
    Claim(CERTS, "(under 3 days,", "prometheus/rules/certificates.yml", r"/ 86400 < 3\n"),
    # --- scripts, Make, Prometheus --------------------------------------------------------
    Claim(
        OPS,
        "(at most 300 s: `--wait-timeout` in the `Makefile`)",
        "Makefile",
        r"up -d --build --wait --wait-timeout 300\n",
    ),
    Claim(
        OPS,
        "within 180 s (a fixed limit in `scripts/deploy.sh`)",
        DEPLOY,
        r"deadline=\$\(\(SECONDS \+ 180\)\)",
    ),
    Claim(
        OPS,
        "It scrapes every 15 s (`scrape_interval`",
        "prometheus/prometheus.yml",
        r"\n  scrape_interval: 15s\n",
    ),
    Claim(
        OPS,
        "`BACKUP_INTERVAL_SECONDS` (a day)",
        "compose.yaml",
        r"BACKUP_INTERVAL_SECONDS: \$\{BACKUP_INTERVAL_SECONDS:-86400\}",
    ),
    Claim(OPS, "`BACKUP_KEEP` (7)", "compose.yaml", r"BACKUP_KEEP: \$\{BACKUP_KEEP:-7\}"),
    Claim(
        CONF,
        "`REDIS_MAXMEMORY` (128 MB)",
        "compose.yaml",
        r"REDIS_MAXMEMORY: \$\{REDIS_MAXMEMORY:-128mb\}",
    ),
    Claim(
        CONF,
        "within 30 s (`REGISTRY_PROBE_SECONDS`)",
        "offline-images/ensure.sh",
        r'timeout "\$\{REGISTRY_PROBE_SECONDS:-30\}"',
    ),
    Claim(
        SEC,
        "The random ones are 64 URL-safe characters.",
        "scripts/first-run.sh",
        r"secrets\.token_urlsafe\(48\)",
    ),
    Claim(
        SEC, "`certs/` (`CERT_DIR`, 0700)", "scripts/first-run.sh", r'\nchmod 700 "\$cert_dir"\n'
    ),
    Claim(
        SEC,
        "(`SECRETS_DIR`, a 0700 directory)",
        "scripts/first-run.sh",
        r'\nchmod 700 "\$secrets_dir"\n',
    ),
    Claim(TESTING, "the last 60 log lines of each", ".ci/run", r"logs --no-color --tail=60 "),
    Claim("README.md", "Python 3.11 or newer", "Makefile", r"sys\.version_info < \(3, 11\)"),
    # --- observability.md -------------------------------------------------------------------
    Claim(
        OBS,
        "the stack's own certificate (`certs/fullchain.pem`)",
        "compose.yaml",
        r"\$\{PROBE_CA_FILE:-\$\{CERT_DIR:-\./certs\}/fullchain\.pem\}",
    ),
    Claim(
        OBS,
        "loads a copy of it with a 5 s `for:`",
        "tests/e2e/test_observability.py",
        r'"for": "5s"',
    ),
    Claim(
        OBS,
        "the Prometheus data source, uid `prometheus`",
        "grafana/provisioning/datasources/prometheus.yml",
        r"\n\s+uid: prometheus\n",
    ),
    Claim(
        OBS,
        "open `http://localhost:3000/` (`GRAFANA_PORT`)",
        "compose.yaml",
        r"\$\{GRAFANA_PORT:-3000\}:3000",
    ),
    Claim(
        OBS,
        "panels inside the 24-column grid",
        "tests/unit/test_dashboards.py",
        r"\nGRID_WIDTH = 24\n",
    ),
    Claim(
        OBS,
        "change the data source to `https://prometheus:9090`",
        "compose.yaml",
        r"\$\{PROMETHEUS_PORT:-9090\}:9090\"",
    ),
    Claim(
        OBS,
        "change the data source to `https://prometheus:9090`",
        "grafana/provisioning/datasources/prometheus.yml",
        r"\n\s+url: http://prometheus:9090\n",
    ),
    Claim(OBS, "in an RFC 5424 message", "logging/compose.syslog.yaml", r"syslog-format: rfc5424"),
    # --- backups.md ---------------------------------------------------------------------------
    Claim(
        BACKUPS,
        "every `BACKUP_INTERVAL_SECONDS` (a day) it dumps",
        "compose.yaml",
        r"BACKUP_INTERVAL_SECONDS: \$\{BACKUP_INTERVAL_SECONDS:-86400\}",
    ),
    Claim(
        BACKUPS,
        "the newest `BACKUP_KEEP` (7)",
        "compose.yaml",
        r"BACKUP_KEEP: \$\{BACKUP_KEEP:-7\}",
    ),
    Claim(
        BACKUPS,
        "`BACKUP_KEEP_DAILY` (7) days",
        "compose.yaml",
        r"BACKUP_KEEP_DAILY: \$\{BACKUP_KEEP_DAILY:-7\}",
    ),
    Claim(
        BACKUPS,
        "`BACKUP_KEEP_WEEKLY` (5) ISO weeks",
        "compose.yaml",
        r"BACKUP_KEEP_WEEKLY: \$\{BACKUP_KEEP_WEEKLY:-5\}",
    ),
    Claim(
        BACKUPS,
        "every `BACKUP_VERIFY_INTERVAL_SECONDS` (a day)",
        "compose.yaml",
        r"BACKUP_VERIFY_INTERVAL_SECONDS: \$\{BACKUP_VERIFY_INTERVAL_SECONDS:-86400\}",
    ),
    Claim(
        BACKUPS,
        "the private key in `AGE_KEY` (default `secrets/backup_age_identity`)",
        "scripts/restore.sh",
        r"\nkey=\$\{AGE_KEY:-\$\{SECRETS_DIR:-\./secrets\}/backup_age_identity\}\n",
    ),
    Claim(
        BACKUPS,
        "Here only one major version (15) can be run",
        "offline-images/build.sh",
        r'"POSTGRES_IMAGE postgres 15"',
    ),
    Claim(
        BACKUPS,
        "Only Postgres 15 runs on this machine",
        "compose.yaml",
        r"\$\{POSTGRES_IMAGE:-postgres:15\.[0-9.]+-bookworm\}",
    ),
    Claim(
        BACKUPS,
        "The backup image has Debian 12's client (15)",
        "compose.yaml",
        r"\$\{PYTHON_IMAGE:-python:[0-9.]+-slim-bookworm\}",
    ),
    Claim(
        BACKUPS,
        "The backup image has Debian 12's client (15)",
        "backup/Dockerfile",
        r"install -y --no-install-recommends postgresql-client ",
    ),
    # --- api.md and development.md ------------------------------------------------------------
    Claim(API, "an OpenAPI 3.1 document", "app/openapi/document.py", r'"openapi": "3\.1\.0",'),
    Claim(
        API,
        "`https://localhost:8443/api/openapi.json`",
        "compose.yaml",
        r"\$\{HTTPS_PORT:-8443\}:8443",
    ),
    Claim(
        DEV, "reload https://localhost:8443/", "compose.dev.yaml", r"\$\{HTTPS_PORT:-8443\}:8443"
    ),
    Claim(
        API,
        "(25 cases per operation and phase,",
        "tests/e2e/test_openapi.py",
        r"\nMAX_EXAMPLES = 25\n",
    ),
    Claim(API, "a fixed seed, 150 s at most)", "tests/e2e/test_openapi.py", r'"--seed", "\d+"'),
    Claim(
        API, "a fixed seed, 150 s at most)", "tests/e2e/test_openapi.py", r"\nRUN_TIMEOUT = 150\n"
    ),
    Claim(
        API, "--checks all --max-examples 25", "tests/e2e/test_openapi.py", r"\nMAX_EXAMPLES = 25\n"
    ),
    Claim(
        DEV,
        "weekly, at most five pull requests open",
        "renovate.json",
        r'"schedule": \[\s+"before 6am on monday"\s+\],\s+"prConcurrentLimit": 5,',
    ),
    Claim(
        DEV,
        "through the edge within 10 seconds",
        "tests/dev/test_live_reload.py",
        r"\nSERVED_WITHIN_SECONDS = 10\n",
    ),
    # --- Swarm and Kubernetes -------------------------------------------------------------
    Claim(
        SCALING, "| app replicas | 3 (`APP_REPLICAS`)", SWARM, r"replicas: \$\{APP_REPLICAS:-3\}"
    ),
    Claim(
        SCALING,
        "(production: 3 to 6, in `overlays/production/scale.yaml`)",
        "deploy/k8s/overlays/production/scale.yaml",
        r"minReplicas: 3\n\s+maxReplicas: 6\n",
    ),
    Claim(
        SCALING,
        "(at most `SWARM_WAIT_SECONDS`, 300)",
        "deploy/swarm/wait.sh",
        r"\$\{SWARM_WAIT_SECONDS:-300\}",
    ),
    Claim(SCALING, "15 s (`monitor` in `compose.swarm.yaml`)", SWARM, r"\n\s+monitor: 15s\n"),
    Claim(
        SCALING,
        "up to 10 times (`max_attempts` in `compose.swarm.yaml`)",
        SWARM,
        r'MIGRATE_WAIT_SECONDS: "90"\n\s+deploy:\n\s+restart_policy: \{[^}]*max_attempts: 10 \}',
    ),
    Claim(
        SCALING,
        "`MIGRATE_WAIT_SECONDS`, which that file sets to 90",
        SWARM,
        r'MIGRATE_WAIT_SECONDS: "90"',
    ),
    Claim(
        SCALING,
        "`GUNICORN_SHUTDOWN_DELAY=3` keeps the task serving for 3 s",
        SWARM,
        r'GUNICORN_SHUTDOWN_DELAY: "3"',
    ),
    Claim(
        SCALING, "(the app also gets 1 CPU)", SWARM, r"\n  app:\n(    .*\n|\n)*?    cpus: 1\.0\n"
    ),
    Claim(
        SCALING,
        "`<project>/app:build-<12 hex>`",
        "deploy/swarm/up.sh",
        r"cut -d: -f2 \| cut -c1-12\)",
    ),
    Claim(
        SCALING,
        "Kubernetes 1.30 schemas (`KUBERNETES_VERSION`",
        "deploy/k8s/tools/k8s_validate.py",
        r'KUBERNETES_VERSION = "1\.30\.\d+"',
    ),
    Claim(
        K8S,
        "against the Kubernetes 1.30 JSON schemas",
        "deploy/k8s/tools/k8s_validate.py",
        r'KUBERNETES_VERSION = "1\.30\.\d+"',
    ),
    Claim(
        K8S,
        "HPA (autoscaling/v2, CPU 70 %)",
        "deploy/k8s/base/app.yaml",
        r"\n\s+averageUtilization: 70\n",
    ),
    Claim(
        K8S, "(Postgres with a 10 Gi PVC;", "deploy/k8s/base/postgres.yaml", r"\n\s+storage: 10Gi\n"
    ),
    Claim(K8S, "with a 1 Gi PVC on `/data`", "deploy/k8s/base/broker.yaml", r"\n\s+storage: 1Gi\n"),
    Claim(
        K8S,
        "waiting up to 60 s for Postgres",
        "deploy/k8s/base/postgres/setup.sh",
        r"\$\{DB_SETUP_WAIT_SECONDS:-60\}",
    ),
    Claim(
        K8S,
        "the Job deletes itself 10 minutes after finishing (`ttlSecondsAfterFinished`)",
        "deploy/k8s/base/migrate-job.yaml",
        r"\n\s+ttlSecondsAfterFinished: 600\n",
    ),
    Claim(
        K8S,
        "the `:local` images, one replica",
        "deploy/k8s/overlays/local/replicas.yaml",
        r"\n\s+replicas: 1\n",
    ),
    Claim(
        K8S,
        "registry images, 3+ app replicas",
        "deploy/k8s/overlays/production/scale.yaml",
        r"\n\s+minReplicas: 3\n",
    ),
    Claim(
        K8S,
        "(kubernetes-validate 1.37.0, checkov 3.3.30, pytest 8.3.5;",
        "deploy/k8s/requirements.txt",
        r"\nkubernetes-validate==1\.37\.0\s",
    ),
    Claim(
        K8S,
        "(kubernetes-validate 1.37.0, checkov 3.3.30, pytest 8.3.5;",
        "deploy/k8s/requirements.txt",
        r"\ncheckov==3\.3\.30\s",
    ),
    Claim(
        K8S,
        "(kubernetes-validate 1.37.0, checkov 3.3.30, pytest 8.3.5;",
        "deploy/k8s/requirements.txt",
        r"\npytest==8\.3\.5\s",
    ),
    Claim(
        MUTATION,
        "runs `mutmut run` with one worker per core (`nproc`)",
        "scripts/mutation.sh",
        r'\n"\$venv/bin/mutmut" run --max-children "\$\(nproc\)"\n',
    ),
    Claim(
        TESTING,
        "Slow (6 min 44 s to 34 min 34 s on 2 cores, by the load:",
        MUTATION,
        r"took\s+from\s+6\s+min\s+44\s+s\s+to\s+34\s+min\s+34\s+s,\s+by\s+the\s+load",
    ),
    Claim(
        MUTATION,
        "took from 6 min 44 s to 34 min 34 s",
        MUTATION,
        r"34 min 34 s on\s+5585b17 under a heavy load, 6 min 44 s to 9 min 17 s before",
    ),
    Claim(
        MUTATION,
        "[mutmut](https://pypi.org/project/mutmut/) 3.8.1.",
        "requirements-mutation.txt",
        r"\nmutmut==3\.8\.1\s",
    ),
    # --- the bench (performance.md, testing.md) -------------------------------------------
    Claim(
        PERF,
        "| `BENCH_DURATION` | `10` (smoke `2`) |",
        BENCH,
        r'env_int\("BENCH_DURATION", 2 if args\.smoke else 10\)',
    ),
    Claim(
        TESTING,
        "(`BENCH_DURATION`, 2 s per scenario in smoke mode)",
        BENCH,
        r'env_int\("BENCH_DURATION", 2 if args\.smoke else 10\)',
    ),
    Claim(
        PERF,
        "| `BENCH_CONNECTIONS` | `64` (smoke `8`) |",
        BENCH,
        r'env_int\("BENCH_CONNECTIONS", 8 if args\.smoke else 64\)',
    ),
    Claim(PERF, "| `BENCH_THREADS` | `2` |", BENCH, r'env_int\("BENCH_THREADS", 2\)'),
    Claim(
        PERF,
        "| `BENCH_WARMUP` | `2` (smoke `0`) |",
        BENCH,
        r'env_int\("BENCH_WARMUP", 0 if args\.smoke else 2\)',
    ),
    Claim(PERF, "| `BENCH_TIMEOUT` | `5` |", BENCH, r'env_int\("BENCH_TIMEOUT", 5\)'),
    Claim(
        PERF,
        "| `BENCH_CONNECTION_CLOSE` | `0` |",
        BENCH,
        r'env_int\("BENCH_CONNECTION_CLOSE", 0\)',
    ),
    Claim(
        PERF,
        "Each connection makes 900 requests",
        BENCH,
        r"(?m)^H2_REQUESTS_PER_CONNECTION = 900$",
    ),
    Claim(PERF, "**nginx at most 20 % of `/healthz`:", REPORT, r"(?m)^TARGET_PROXY_COST = 0\.20$"),
    Claim(
        PERF,
        "**The production middleware at most 25 % dearer than bare Flask:",
        REPORT,
        r"(?m)^TARGET_MIDDLEWARE_COST = 0\.25 ",
    ),
    Claim(
        PERF,
        "Cached read at least 80 % of `/healthz`",
        REPORT,
        r"(?m)^TARGET_CACHED_RATIO = 0\.80$",
    ),
    Claim(
        PERF,
        "the uncached list at least 40 % of `/healthz`",
        REPORT,
        r"(?m)^TARGET_UNCACHED_RATIO = 0\.40$",
    ),
    Claim(
        PERF,
        "and has 55 296 of them",
        "compose.yaml",
        r'net\.ipv4\.ip_local_port_range: "10240 65535"',
    ),
    Claim(
        PERF,
        "| `BENCH_SEED_ITEMS` | `100` (smoke `20`) |",
        BENCH,
        r'env_int\("BENCH_SEED_ITEMS", 20 if args\.smoke else 100\)',
    ),
    Claim(
        PERF,
        "| `BENCH_IMPORTS` | `4` (smoke `2`) |",
        BENCH,
        r'env_int\("BENCH_IMPORTS", 2 if args\.smoke else 4\)',
    ),
    Claim(
        PERF,
        "| `BENCH_IMPORT_SIZE` | `2000` (smoke `200`) |",
        BENCH,
        r'env_int\("BENCH_IMPORT_SIZE", 200 if args\.smoke else 2000\)',
    ),
    Claim(
        PERF,
        "| `BENCH_RATE_LIMIT`, `BENCH_RATE_BURST` | `100000r/s`, `100000` |",
        BENCH,
        r'"BENCH_RATE_LIMIT"\) or "100000r/s"',
    ),
    Claim(
        PERF,
        "| `BENCH_RATE_LIMIT`, `BENCH_RATE_BURST` | `100000r/s`, `100000` |",
        BENCH,
        r'"BENCH_RATE_BURST"\) or "100000"',
    ),
    Claim(
        PERF,
        "| `BENCH_RESULTS_DIR` | `results` |",
        BENCH,
        r'"BENCH_RESULTS_DIR"\) or ROOT / "results"',
    ),
]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.doc}: {c.phrase}"[:90])
def test_a_restated_default_is_the_defined_one(claim: Claim) -> None:
    assert claim.phrase in words(claim.doc), f"{claim.doc} no longer says {claim.phrase!r}"
    assert re.search(claim.pattern, text(claim.source)), (
        f"{claim.source} no longer matches {claim.pattern!r}, which {claim.doc} restates as "
        f"{claim.phrase!r}: change both together"
    )


# --- compose.yaml, read as Compose reads it -------------------------------------------------


@cache
def compose() -> dict:
    return yaml.safe_load(text("compose.yaml"))


class ServiceClaim(NamedTuple):
    doc: str
    phrase: str
    service: str
    key: str
    value: object


SERVICE_CLAIMS = [
    ServiceClaim(CONF, "`mem_limit` (512 MB in `compose.yaml`)", "app", "mem_limit", "512m"),
    ServiceClaim(CONF, "`pids_limit` (256 in `compose.yaml`)", "app", "pids_limit", 256),
    ServiceClaim(CONF, "Compose's `stop_grace_period` (30 s)", "app", "stop_grace_period", "30s"),
    ServiceClaim(
        CONF, "the Redis container's 192 MB limit (`mem_limit`", "redis", "mem_limit", "192m"
    ),
    ServiceClaim(OPS, "within the 60 s `stop_grace_period`", "worker", "stop_grace_period", "60s"),
    ServiceClaim(BACKUPS, "The service runs as user 999", "backup", "user", "999:999"),
]


@pytest.mark.parametrize("claim", SERVICE_CLAIMS, ids=lambda c: f"{c.doc}: {c.phrase}"[:90])
def test_a_restated_service_setting_is_compose_s(claim: ServiceClaim) -> None:
    assert claim.phrase in words(claim.doc), f"{claim.doc} no longer says {claim.phrase!r}"
    assert compose()["services"][claim.service].get(claim.key) == claim.value


def test_readme_counts_the_exporters_that_compose_runs() -> None:
    exporters = [name for name in compose()["services"] if name.endswith("-exporter")]
    count = {3: "three", 4: "four", 5: "five", 6: "six"}[len(exporters)]
    assert f"Alertmanager and {count} exporters" in words("README.md")


def test_configuration_names_every_service_that_gets_the_env_file() -> None:
    services = [name for name, spec in compose()["services"].items() if "env_file" in spec]
    listed = ", ".join(f"`{name}`" for name in services[:-1]) + f" and `{services[-1]}`"
    count = {5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}[len(services)]
    doc = words(CONF)
    assert f"`compose.yaml` gives {listed} the whole of `.env`" in doc
    assert f"`.env` is given to {count} services" in doc


MIB = {"m": 1, "g": 1024}


def megabytes(value: str) -> str:
    number, unit = re.fullmatch(r"(\d+)([mg])", value).groups()  # type: ignore[union-attr]
    return f"{int(number) * MIB[unit]} MB"


def hardening_rows() -> dict[str, list[str]]:
    """security.md's hardening table: service name -> its cells (user, writes to, memory, pids)."""
    rows: dict[str, list[str]] = {}
    for line in text(SEC).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`") and cells[3].endswith("MB"):
            for name in re.findall(r"`([a-z-]+)`", cells[0]):
                rows[name] = cells[1:]
    return rows


def test_the_hardening_table_lists_every_service_with_composes_user_and_limits() -> None:
    rows = hardening_rows()
    services = compose()["services"]
    assert sorted(rows) == sorted(services), "security.md's hardening table and compose.yaml differ"
    for name, (user, writes, memory, pids) in rows.items():
        spec = services[name]
        assert spec["user"].split(":")[0] == user.split(" ")[0], name
        if "(group " in user:
            assert spec["user"] == f"{user.split(' ')[0]}:{user.split('(group ')[1].rstrip(')')}"
        assert megabytes(spec["mem_limit"]) == memory, name
        assert str(spec["pids_limit"]) == pids, name
        # Every tmpfs size the table gives is compose's.
        sizes = dict(re.findall(r"`(/[^`]+)` \(tmpfs (\d+ MB)", writes))
        for mount in spec.get("tmpfs", []):
            path, options = mount.split(":", 1)
            if path in sizes:
                size = re.search(r"size=(\d+[mg])", options).group(1)  # type: ignore[union-attr]
                assert megabytes(size) == sizes.pop(path), f"{name} {path}"
        assert not sizes, f"{name}: the table gives a size for a mount compose lacks: {sizes}"


def offline_rows() -> list[tuple[str, str, str]]:
    """offline-images/README.md's table: (variable, upstream image, stand-in name:version)."""
    found = []
    for line in text(OFFLINE).splitlines():
        match = re.match(r"\| `([A-Z_]+_IMAGE)` \| `([^`]+)` \| `([^`]+)`", line)
        if match:
            found.append(match.groups())
    return found


def test_the_offline_table_gives_composes_upstream_images_and_build_sh_stand_ins() -> None:
    rows = offline_rows()
    compose_text = text("compose.yaml")
    # build.sh's STANDINS table: "VARIABLE name version", one per stand-in.
    standins = re.findall(
        r'^  "([A-Z_]+_IMAGE) ([a-z-]+) ([0-9.]+)"$', text("offline-images/build.sh"), re.M
    )
    assert sorted(rows_variable for rows_variable, _, _ in rows) == sorted(
        v for v, _, _ in standins
    )
    built = {variable: f"{name}:{version}" for variable, name, version in standins}
    for variable, upstream, standin in rows:
        assert f"${{{variable}:-{upstream}}}" in compose_text, variable
        assert built[variable] == standin, variable


def test_the_mutation_results_add_up_and_name_their_command_and_commit() -> None:
    """docs/mutation.md's scores are a measurement: they name the command and the commit they
    were measured on, and each score follows from the counts beside it."""
    doc = words(MUTATION)
    assert re.search(r"`make mutation` on commit [0-9a-f]{7,40} took \d+ min \d+ s", doc), (
        "mutation.md no longer names the command and commit of its results"
    )
    rows = re.findall(
        r"^\| (?:`(app/[^`]+)`|\*\*overall\*\*) \| \**(\d+)\** \| \**(\d+)\** \| \**([\d.]+) %",
        text(MUTATION),
        re.M,
    )
    *modules, (_, total, killed, score) = rows
    assert modules and all(name for name, *_ in modules)
    for name, mutants, dead, percent in [*modules, ("overall", total, killed, score)]:
        assert round(100 * int(dead) / int(mutants), 1) == float(percent), name
    assert sum(int(m) for _, m, _, _ in modules) == int(total)
    assert sum(int(k) for _, _, k, _ in modules) == int(killed)
    # The earlier runs it quotes: "84.9 % (2680 of 3157 ...", and the overall line in prose.
    quoted = re.findall(r"([\d.]+) % \((\d+) of (\d+)", doc)
    assert len(quoted) >= 3
    for percent, dead, mutants in quoted:
        assert round(100 * int(dead) / int(mutants), 1) == float(percent), (dead, mutants)
