"""The numbers a user acts on, where the docs give them, are the ones the code defines.

The docs point to the file that defines a default (a timeout, an interval, a threshold) rather
than restate it. What they still state is what a user meets or types: the published ports and
their addresses, the limits a client meets at the edge (body and header size, rates, slow
clients), and the figures of the public contract (docs/contract.md). Each row names the words
of a doc, as written, and what must hold in the file that defines the number: a changed number
fails here until the doc follows, and a reworded doc fails until its row follows. Where a doc
gives no number but an order (configuration.md's timeouts), the defaults must keep it.

The rows of the docs outside docs/ (README.md, deploy/k8s/README.md, offline-images/README.md)
and of docs/testing.md still restate defaults; they are checked as before until those docs
point to the files themselves. Measured figures (docs/performance.md, docs/mutation.md) are
measurements, not defaults: only the mutation scores' arithmetic is checked.
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
SCALING = "docs/scaling.md"
OBS = "docs/observability.md"
API = "docs/api.md"
DEV = "docs/development.md"
TESTING = "docs/testing.md"
MUTATION = "docs/mutation.md"
K8S = "deploy/k8s/README.md"
OFFLINE = "offline-images/README.md"
COMPOSE = "compose.yaml"
CONFIG = "app/config.py"
ENTRY = "nginx/docker-entrypoint.sh"
NGINX = "nginx/templates/nginx.conf.template"

# compose.yaml's published ports, each with its default address and port.
EDGE_HTTP = r'"\$\{BIND_ADDRESS:-127\.0\.0\.1\}:\$\{HTTP_PORT:-8080\}:8080"'
EDGE_HTTPS = r'"\$\{BIND_ADDRESS:-127\.0\.0\.1\}:\$\{HTTPS_PORT:-8443\}:8443"'
PROMETHEUS = r'"\$\{PROMETHEUS_BIND_ADDRESS:-127\.0\.0\.1\}:\$\{PROMETHEUS_PORT:-9090\}:9090"'
GRAFANA = r'"\$\{GRAFANA_BIND_ADDRESS:-127\.0\.0\.1\}:\$\{GRAFANA_PORT:-3000\}:3000"'
BODY_LIMIT = r"\n\s+client_max_body_size 1m;"
HEADER_LIMIT = r"\n\s+large_client_header_buffers 4 16k;"
APP_BODY_LIMIT = r"MAX_CONTENT_LENGTH = 1024 \* 1024\b"

CLAIMS = [
    # --- published ports and their addresses ------------------------------------------------
    Claim(
        CONTRACT, "`HTTP_PORT` (8080) and `HTTPS_PORT` (8443) on `BIND_ADDRESS`", COMPOSE, EDGE_HTTP
    ),
    Claim(
        CONTRACT,
        "`HTTP_PORT` (8080) and `HTTPS_PORT` (8443) on `BIND_ADDRESS`",
        COMPOSE,
        EDGE_HTTPS,
    ),
    Claim(
        CONTRACT,
        "`PROMETHEUS_PORT` (9090) on `PROMETHEUS_BIND_ADDRESS` (127.0.0.1)",
        COMPOSE,
        PROMETHEUS,
    ),
    Claim(
        SEC,
        "Prometheus has its own address, `PROMETHEUS_BIND_ADDRESS` (127.0.0.1).",
        COMPOSE,
        PROMETHEUS,
    ),
    Claim(SEC, "publish ports, each on 127.0.0.1 by default.", COMPOSE, EDGE_HTTPS),
    Claim(SEC, "publish ports, each on 127.0.0.1 by default.", COMPOSE, PROMETHEUS),
    Claim(SEC, "publish ports, each on 127.0.0.1 by default.", COMPOSE, GRAFANA),
    Claim(OPS, "It is published on 127.0.0.1 (`PROMETHEUS_BIND_ADDRESS`)", COMPOSE, PROMETHEUS),
    Claim(SCALING, "on `BIND_ADDRESS` (default 127.0.0.1)", COMPOSE, EDGE_HTTPS),
    Claim(SCALING, "published on `PROMETHEUS_BIND_ADDRESS` (127.0.0.1)", COMPOSE, PROMETHEUS),
    Claim(OBS, "open `http://localhost:3000/` (`GRAFANA_PORT`)", COMPOSE, GRAFANA),
    Claim(
        OBS,
        "change the data source to `https://prometheus:9090`",
        "grafana/provisioning/datasources/prometheus.yml",
        r"\n\s+url: http://prometheus:9090\n",
    ),
    Claim(OBS, "change the data source to `https://prometheus:9090`", COMPOSE, PROMETHEUS),
    *(
        Claim(
            DEV,
            "`compose.dev.yaml` publishes the edge, Prometheus and Grafana on 127.0.0.1 alone.",
            "compose.dev.yaml",
            rf'"127\.0\.0\.1:\$\{{{port}:-\d+\}}:\d+"',
        )
        for port in ("HTTP_PORT", "HTTPS_PORT", "PROMETHEUS_PORT", "GRAFANA_PORT")
    ),
    # --- the limits a client meets at the edge (security.md) --------------------------------
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
    Claim(SEC, "up to 16 KiB (`large_client_header_buffers`)", NGINX, HEADER_LIMIT),
    Claim(SEC, "A request line over 16 KiB is refused with 414", NGINX, HEADER_LIMIT),
    Claim(SEC, "bodies up to 1 MiB", NGINX, BODY_LIMIT),
    Claim(SEC, "bodies up to 1 MiB", CONFIG, APP_BODY_LIMIT),
    Claim(
        SEC,
        "takes more than 15 s to send its request headers",
        NGINX,
        r"\n\s+client_header_timeout 15s;",
    ),
    Claim(
        SEC,
        "pauses more than 15 s while sending its body",
        NGINX,
        r"\n\s+client_body_timeout 15s;",
    ),
    Claim(
        SEC, "`HEALTH_CACHE_SECONDS` (1 s) per process", CONFIG, r"HEALTH_CACHE_DEFAULT = 1\.0\n"
    ),
    Claim(CONF, "part of the contract ([contract.md](contract.md)), 1 MiB,", NGINX, BODY_LIMIT),
    Claim(
        CONF, "part of the contract ([contract.md](contract.md)), 1 MiB,", CONFIG, APP_BODY_LIMIT
    ),
    # --- the public contract ------------------------------------------------------------
    Claim(CONTRACT, "within the 1 MiB body limit", NGINX, BODY_LIMIT),
    Claim(CONTRACT, "| body over 1 MiB | 413 |", NGINX, BODY_LIMIT),
    Claim(CONTRACT, "other files for a day", NGINX, r'"public, max-age=86400" always;'),
    Claim(
        CONTRACT,
        "are cached for a year as `immutable`",
        NGINX,
        r'"public, max-age=31536000, immutable" always;',
    ),
    Claim(
        CONTRACT,
        "matches `[A-Za-z0-9._-]{8,128}`",
        NGINX,
        r'"~\^\[A-Za-z0-9\._-\]\{8,128\}\$" \$http_x_request_id;',
    ),
    Claim(
        CONTRACT,
        "`max-age=31536000; includeSubDomains` (`HSTS_MAX_AGE`)",
        ENTRY,
        r"\$\{HSTS_MAX_AGE:-31536000\}",
    ),
    Claim(
        CONTRACT,
        "`max-age=31536000; includeSubDomains` (`HSTS_MAX_AGE`)",
        NGINX,
        r'"max-age=\$\{NGINX_HSTS_MAX_AGE\}; includeSubDomains"',
    ),
    Claim(
        CONTRACT,
        "(2 s for Postgres, 1 s for Redis)",
        "app/health/checks.py",
        r"\nCHECK_TIMEOUT_SECONDS = 2\n",
    ),
    Claim(
        CONTRACT, "(2 s for Postgres, 1 s for Redis)", CONFIG, r"\nREDIS_SOCKET_TIMEOUT = 1\.0\n"
    ),
    Claim(CONTRACT, "shared for a second per process", CONFIG, r"HEALTH_CACHE_DEFAULT = 1\.0\n"),
    Claim(
        CONTRACT,
        "`limit` 1 to 100 (default 20), `offset` 0 or more (default 0)",
        "app/items/schema.py",
        r'"limit": \{"type": "integer", "minimum": 1, "maximum": 100, "default": 20\}',
    ),
    Claim(
        CONTRACT,
        "`limit` 1 to 100 (default 20), `offset` 0 or more (default 0)",
        "app/items/schema.py",
        r'"offset": \{\s+"type": "integer",\s+"minimum": 0,[^}]*"default": 0,',
    ),
    Claim(CONTRACT, "`name` is 1 to 200 characters", "app/items/models.py", r"\nNAME_MAX = 200\n"),
    Claim(
        CONTRACT,
        "`description` is optional, up to 2000 characters",
        "app/items/models.py",
        r"\nDESCRIPTION_MAX = 2000\n",
    ),
    Claim(CONTRACT, "| 1 to 5000 items,", "app/imports/schema.py", r"\nMAX_ITEMS = 5000\n"),
    Claim(
        CONTRACT,
        "| 1 to 5000 items,",
        "app/imports/schema.py",
        r'"minItems": 1, "maxItems": MAX_ITEMS',
    ),
    Claim(
        CONTRACT,
        "`IMPORT_RETENTION_SECONDS` (7 days)",
        CONFIG,
        r'env\.int\("IMPORT_RETENTION_SECONDS", 7 \* 86400,',
    ),
    Claim(
        CONTRACT, "the OpenAPI 3.1 document", "app/openapi/document.py", r'"openapi": "3\.1\.0",'
    ),
    Claim(API, "an OpenAPI 3.1 document", "app/openapi/document.py", r'"openapi": "3\.1\.0",'),
    # --- what a log receiver must parse -----------------------------------------------------
    Claim(OBS, "in an RFC 5424 message", "compose.syslog.yaml", r"syslog-format: rfc5424"),
    # --- docs outside docs/ and docs/testing.md, which still restate defaults ---------------
    Claim(TESTING, "the last 60 log lines of each", ".ci/run", r"logs --no-color --tail=60 "),
    Claim("README.md", "Python 3.11 or newer", "Makefile", r"sys\.version_info < \(3, 11\)"),
    Claim(
        K8S,
        "against the Kubernetes 1.30 JSON schemas",
        "deploy/k8s/tools/k8s_schema.py",
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
        "deploy/k8s/overlays/local/kustomization.yaml",
        r"\n\s+- name: app\n\s+count: 1\n",
    ),
    Claim(
        K8S,
        "registry images, 3+ app replicas",
        "deploy/k8s/overlays/production/hpa.yaml",
        r"\n\s+minReplicas: 3\n",
    ),
    *(
        Claim(
            K8S,
            "(kubernetes-validate 1.37.0, checkov 3.3.30, pytest 8.3.5;",
            "deploy/k8s/requirements.txt",
            rf"\n{re.escape(pin)}\s",
        )
        for pin in ("kubernetes-validate==1.37.0", "checkov==3.3.30", "pytest==8.3.5")
    ),
    # --- measurements quoted twice: the same figures in both places ---------------------------
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
]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.doc}: {c.phrase}"[:90])
def test_a_stated_number_is_the_defined_one(claim: Claim) -> None:
    assert claim.phrase in words(claim.doc), f"{claim.doc} no longer says {claim.phrase!r}"
    assert re.search(claim.pattern, text(claim.source)), (
        f"{claim.source} no longer matches {claim.pattern!r}, which {claim.doc} states as "
        f"{claim.phrase!r}: change both together"
    )


# --- compose.yaml, read as Compose reads it -------------------------------------------------


@cache
def compose() -> dict:
    return yaml.safe_load(text(COMPOSE))


def published_defaults() -> dict[str, int]:
    """compose.yaml's published ports: variable -> its default host port."""
    found = {}
    for spec in compose()["services"].values():
        for port in spec.get("ports", []):
            variable, default = re.search(r"\$\{([A-Z_]+_PORT):-(\d+)\}", port).groups()  # type: ignore[union-attr]
            found[variable] = int(default)
    return found


# Every doc a user reads for the stack's addresses: docs/ and the README.
URL_DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", URL_DOCS)
def test_every_localhost_url_names_a_published_default_port(doc: str) -> None:
    ports = published_defaults()
    assert set(ports) == {"HTTP_PORT", "HTTPS_PORT", "PROMETHEUS_PORT", "GRAFANA_PORT"}
    # The edge's two ports by scheme; Prometheus serves either (TLS beyond loopback).
    allowed = {
        ("http", ports["HTTP_PORT"]),
        ("https", ports["HTTPS_PORT"]),
        ("http", ports["PROMETHEUS_PORT"]),
        ("https", ports["PROMETHEUS_PORT"]),
        ("http", ports["GRAFANA_PORT"]),
    }
    urls = [(s, int(p)) for s, p in re.findall(r"\b(https?)://localhost:(\d+)", text(doc))]
    wrong = [
        f"{scheme}://localhost:{port}" for scheme, port in urls if (scheme, port) not in allowed
    ]
    assert not wrong, f"{doc} names ports compose.yaml does not publish by default: {wrong}"


def seconds(value: str) -> float:
    """A duration as the files write it (`25s`, `30`, `2s`) in seconds."""
    return float(re.fullmatch(r"([\d.]+)s?", value).group(1))  # type: ignore[union-attr]


def default(path: str, pattern: str) -> float:
    """The default the one group of PATTERN captures in PATH, in seconds."""
    match = re.search(pattern, text(path))
    assert match, f"{path} no longer matches {pattern!r}"
    return seconds(match.group(1))


def test_the_timeouts_keep_the_order_configuration_md_asks_for() -> None:
    """configuration.md no longer gives the timeouts' defaults, only the order they must keep
    (and operations.md and scaling.md rely on it): the defaults keep it."""
    assert "whatever you set, keep this order:" in words(CONF)
    proxy_read = default(ENTRY, r"\$\{PROXY_READ_TIMEOUT:-(\w+)\}")
    resolver_valid = default(ENTRY, r"\$\{NGINX_RESOLVER_VALID:-(\w+)\}")
    worker_timeout = default("gunicorn.conf.py", r'_env_int\("GUNICORN_TIMEOUT", (\d+)\)')
    graceful = default("gunicorn.conf.py", r'_env_int\("GUNICORN_GRACEFUL_TIMEOUT", (\d+)\)')
    delay = default("gunicorn.conf.py", r'_env_float\("GUNICORN_SHUTDOWN_DELAY", ([\d.]+)\)')
    swarm_delay = default("deploy/swarm/compose.swarm.yaml", r'GUNICORN_SHUTDOWN_DELAY: "([\d.]+)"')
    deploy_stop = default("scripts/deploy.sh", r"\ndocker stop -t (\d+) ")
    deploy_wait = default("scripts/deploy.sh", r"\$\{DEPLOY_RESOLVER_WAIT_SECONDS:-(\d+)\}")
    grace = seconds(compose()["services"]["app"]["stop_grace_period"])
    # nginx answers 504 before the worker is recycled.
    assert proxy_read < worker_timeout
    # In-flight requests finish before Compose or `make deploy` kills the container.
    assert delay + graceful < grace and delay + graceful < deploy_stop
    assert swarm_delay + graceful < grace
    # A stopping replica keeps serving, and a deploy waits, until nginx's cached answer expired.
    assert swarm_delay > resolver_valid
    assert deploy_wait > resolver_valid


def test_readme_counts_the_exporters_that_compose_runs() -> None:
    exporters = [name for name in compose()["services"] if name.endswith("-exporter")]
    count = {3: "three", 4: "four", 5: "five", 6: "six"}[len(exporters)]
    assert f"Alertmanager and {count} exporters" in words("README.md")


def test_configuration_names_every_service_that_gets_the_env_file() -> None:
    services = [name for name, spec in compose()["services"].items() if "env_file" in spec]
    listed = ", ".join(f"`{name}`" for name in services[:-1]) + f" and `{services[-1]}`"
    assert f"`compose.yaml` gives {listed} the whole of `.env`" in words(CONF)


def hardening_rows() -> dict[str, str]:
    """security.md's hardening table: service name -> its user cell."""
    rows: dict[str, str] = {}
    for line in text(SEC).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if (
            len(cells) == 3
            and cells[0].startswith("`")
            and re.fullmatch(r"\d+( \(group \d+\))?", cells[1])
        ):
            for name in re.findall(r"`([a-z-]+)`", cells[0]):
                rows[name] = cells[1]
    return rows


def test_the_hardening_table_lists_every_service_with_composes_user() -> None:
    rows = hardening_rows()
    services = compose()["services"]
    assert sorted(rows) == sorted(services), "security.md's hardening table and compose.yaml differ"
    for name, user in rows.items():
        uid, _, group = user.partition(" (group ")
        expected = f"{uid}:{group.rstrip(')')}" if group else uid
        declared = services[name]["user"]
        assert (declared if group else declared.split(":")[0]) == expected, name


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
    compose_text = text(COMPOSE)
    # build.sh's STANDINS table: "VARIABLE name version", one per stand-in.
    standins = re.findall(
        r'^  "([A-Z_]+_IMAGE) ([a-z-]+) ([0-9.]+)"$', text("offline-images/build.sh"), re.M
    )
    assert sorted(variable for variable, _, _ in rows) == sorted(v for v, _, _ in standins)
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
