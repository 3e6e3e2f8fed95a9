"""The stack boots, every service is healthy, and the basic edge contract holds."""

from __future__ import annotations

import hashlib
import json
import re
import stat
import subprocess
from pathlib import Path

import pytest
import requests

from tests.support import prometheus
from tests.support.edge import BASE, CA_FILE, HTTP_BASE
from tests.support.settings import (
    BIND_ADDRESS,
    CERT_DIR,
    HTTPS_PORT,
    ROOT,
    SECRETS_DIR,
    compose_config,
)
from tests.support.stack import compose, inspect, psql, wait_for

SERVICES = ["nginx", "app", "postgres", "redis", "prometheus"]


def test_healthz_answers_ok_through_nginx(http):
    response = http.get(f"{BASE}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_http_redirects_to_https_keeping_port_path_and_query():
    response = requests.get(f"{HTTP_BASE}/a?b=1", allow_redirects=False, timeout=5)
    assert response.status_code == 301
    assert response.headers["Location"] == f"https://localhost:{HTTPS_PORT}/a?b=1"


def test_every_service_is_running_and_every_healthcheck_passes():
    rows = [json.loads(line) for line in compose("ps", "--format", "json").stdout.splitlines()]
    state = {row["Service"]: (row["State"], row.get("Health") or "") for row in rows}
    services = compose_config()["services"]
    long_running = {name for name, spec in services.items() if spec.get("restart") != "no"}
    assert long_running <= set(state), f"not running: {long_running - set(state)}"
    for name in sorted(long_running):
        expected = ("running", "healthy" if services[name].get("healthcheck") else "")
        assert state[name] == expected, f"{name}: {state[name]}"
    # Only the exporter built FROM scratch may go without a healthcheck.
    assert {n for n in long_running if not services[n].get("healthcheck")} == {"nginx-exporter"}


def test_migrations_ran_once_and_exited_cleanly():
    state = inspect("migrate")["State"]
    assert state["Status"] == "exited"
    assert state["ExitCode"] == 0


def test_app_processes_run_as_a_non_root_user():
    top = compose("top", "app").stdout.splitlines()
    header_index = next(i for i, line in enumerate(top) if line.startswith("UID"))
    processes = [line.split() for line in top[header_index + 1 :] if line.strip()]
    assert processes, "no app process found"
    for process in processes:
        uid = process[0]
        assert uid not in {"0", "root"}, f"app process runs as root: {process}"
    assert any("gunicorn" in " ".join(p) for p in processes)
    assert inspect("app")["Config"]["User"].split(":")[0] == "10001"


def test_an_app_container_opens_12_database_connections_of_postgres_s_100():
    """docs/configuration.md's pool sizing: GUNICORN_WORKERS x (DB_POOL_SIZE + DB_MAX_OVERFLOW)
    = 2 x (4 + 2) = 12 at the defaults, against Postgres's max_connections 100, 3 reserved."""
    env = dict(line.split("=", 1) for line in inspect("app")["Config"]["Env"] if "=" in line)
    threads = int(env.get("GUNICORN_THREADS") or 4)
    capacity = int(env.get("GUNICORN_WORKERS") or 2) * (
        int(env.get("DB_POOL_SIZE") or threads) + int(env.get("DB_MAX_OVERFLOW") or 2)
    )
    query = 'max(app_db_pool_capacity{job="app"})'
    wait_for(lambda: prometheus.scalar(query) == capacity, 60, 2, f"{query} == {capacity}")
    assert psql("SHOW max_connections") == "100"
    assert psql("SHOW superuser_reserved_connections") == "3"


def test_only_nginx_and_prometheus_publish_ports_and_only_on_loopback():
    for service in SERVICES:
        ports = inspect(service)["HostConfig"]["PortBindings"] or {}
        if service in {"nginx", "prometheus"}:
            assert ports, f"{service} publishes nothing"
            for bindings in ports.values():
                for binding in bindings:
                    assert binding["HostIp"] == BIND_ADDRESS
        else:
            assert not ports, f"{service} publishes {ports}"


def test_landing_page_uses_a_stylesheet_served_by_nginx(http):
    page = http.get(f"{BASE}/", timeout=5)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', page.text)
    assert stylesheet, "the landing page links no stylesheet under /static/"
    css = http.get(f"{BASE}{stylesheet.group(1)}", timeout=5)
    assert css.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css")


def _fingerprint() -> dict[str, str]:
    """What a second `make up` must leave as it is: secrets, certificate, containers."""
    files = [Path(spec["file"]) for spec in compose_config()["secrets"].values()]
    files += [CERT_DIR / "fullchain.pem", CERT_DIR / "privkey.pem"]
    state = {
        str(f): f"{hashlib.sha256(f.read_bytes()).hexdigest()} {oct(f.stat().st_mode)}"
        f" {f.stat().st_uid}"
        for f in files
    }
    for service in SERVICES:
        state[service] = inspect(service)["Id"]
    return state


@pytest.mark.exclusive
def test_second_make_up_succeeds_and_changes_nothing():
    before = _fingerprint()
    result = subprocess.run(
        ["make", "up"], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"https://localhost:{HTTPS_PORT}/" in result.stdout
    assert _fingerprint() == before
    secrets_dir = SECRETS_DIR
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700


def test_localhost_gets_the_certificate_and_a_client_naming_no_server_gets_none():
    response = requests.get(f"https://localhost:{HTTPS_PORT}/healthz", verify=CA_FILE, timeout=5)
    assert response.status_code == 200
    # A client that sends no server name (TLS to an IP address) is refused at the handshake,
    # like one that names an unknown host: the certificate goes only to the names served.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://127.0.0.1:{HTTPS_PORT}/healthz", verify=CA_FILE, timeout=5)
