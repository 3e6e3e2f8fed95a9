"""Least privilege, tried as an attacker would: database roles, Redis users, who reaches whom,
Prometheus's exposure, limits on every path, oversized requests, unknown TLS names, secret
files."""

from __future__ import annotations

import concurrent.futures
import functools
import json
import socket
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support import prometheus
from tests.support.contract import assert_security_headers_once
from tests.support.edge import BASE, CA_FILE, new_session
from tests.support.settings import (
    HTTPS_PORT,
    POSTGRES_DB,
    PROMETHEUS_PORT,
    SECRETS_DIR,
    compose_config,
    secret,
)
from tests.support.stack import (
    compose,
    inspect,
    overridden,
    run_python_in_network_of,
    wait_for,
    wait_healthy,
)

# --- Postgres roles ------------------------------------------------------------------------


def psql_as(role: str, password_secret: str, sql: str) -> tuple[int, str]:
    """Run SQL over TCP as ROLE (as the app would log in), from the postgres container."""
    result = compose(
        "exec", "-T", "-e", f"PGPASSWORD={secret(password_secret)}", "postgres",
        "psql", "-h", "127.0.0.1", "-U", role, "-d", POSTGRES_DB, "-At", "-v", "ON_ERROR_STOP=1",
        "-c", sql, check=False,
    )  # fmt: skip
    return result.returncode, (result.stdout + result.stderr).strip()


def test_the_apps_database_connections_are_not_superuser(http):
    http.get(f"{BASE}/api/items?limit=1", timeout=10)  # the app holds pooled connections now
    status, rows = psql_as(
        "app_monitor", "db_monitor_password",
        "SELECT DISTINCT a.usename || '|' || r.rolsuper::int FROM pg_stat_activity a "
        "JOIN pg_roles r ON r.rolname = a.usename WHERE a.application_name <> 'psql' "
        "AND a.usename IS NOT NULL AND a.client_addr IS NOT NULL",
    )  # fmt: skip
    assert status == 0, rows
    seen = dict(line.split("|") for line in rows.splitlines())
    assert seen.get("app_user") == "0", seen
    assert all(superuser == "0" for superuser in seen.values()), seen


def test_the_app_role_reads_and_writes_rows_and_nothing_more():
    ok, _ = psql_as("app_user", "db_app_password", "SELECT count(*) FROM items")
    assert ok == 0
    for sql, why in [
        ("CREATE TABLE stolen (x int)", "DDL"),
        ("DROP TABLE items", "DDL on the app's own table"),
        ("COPY (SELECT 1) TO PROGRAM 'id'", "a shell on the database host"),
        ("SELECT pg_read_file('/etc/passwd')", "server files"),
        ("CREATE ROLE intruder", "roles"),
    ]:
        status, output = psql_as("app_user", "db_app_password", sql)
        assert status != 0, f"the app's role may run {why}: {sql}"
        assert "permission denied" in output or "must be" in output, output


def test_migrations_run_as_the_owner_which_is_no_superuser_either():
    owner = functools.partial(psql_as, "app_owner", "db_owner_password")
    assert owner("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == (0, "f")
    assert owner("COPY (SELECT 1) TO PROGRAM 'id'")[0] != 0
    tables = "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
    assert owner(tables)[1] == "app_owner"


def test_the_exporter_monitors_and_reads_no_data():
    monitor = functools.partial(psql_as, "app_monitor", "db_monitor_password")
    assert monitor("SELECT pg_has_role(current_user, 'pg_monitor', 'member')") == (0, "t")
    status, output = monitor("SELECT * FROM public.items")
    assert status != 0 and "permission denied" in output


def test_the_migration_job_gets_the_database_password_only():
    secrets = [s["source"] for s in compose_config()["services"]["migrate"]["secrets"]]
    assert secrets == ["db_owner_password"]


# --- Redis users ---------------------------------------------------------------------------


def redis_as(
    user: str | None, password_secret: str | None, *command: str, service: str = "redis"
) -> str:
    auth = [] if user is None else ["--user", user]
    env = [] if password_secret is None else ["-e", f"REDISCLI_AUTH={secret(password_secret)}"]
    result = compose("exec", "-T", *env, service, "redis-cli", "--no-auth-warning", *auth,
                     *command, check=False)  # fmt: skip
    return (result.stdout + result.stderr).strip()


def test_the_default_redis_user_is_disabled():
    assert "NOAUTH" in redis_as(None, None, "PING")
    assert "WRONGPASS" in redis_as("default", "redis_app_password", "PING")


def test_the_app_reaches_its_own_keys_only_and_no_dangerous_command():
    prefix = compose_config()["services"]["app"]["environment"]["CACHE_KEY_PREFIX"]
    assert redis_as("app", "redis_app_password", "SET", f"{prefix}acl-probe", "1") == "OK"
    assert "NOPERM" in redis_as("app", "redis_app_password", "SET", "elsewhere:probe", "1")
    for command in (["KEYS", "*"], ["FLUSHALL"], ["CONFIG", "GET", "*"], ["ACL", "LIST"]):
        assert "NOPERM" in redis_as("app", "redis_app_password", *command), command
    redis_as("app", "redis_app_password", "DEL", f"{prefix}acl-probe")


def test_the_exporters_redis_user_reads_and_writes_nothing():
    assert "redis_version" in redis_as("monitor", "redis_monitor_password", "INFO", "server")
    assert "NOPERM" in redis_as("monitor", "redis_monitor_password", "SET", "x", "1")
    assert "NOPERM" in redis_as("monitor", "redis_monitor_password", "GET", "x")


def broker_as(user: str | None, password_secret: str | None, *command: str) -> str:
    return redis_as(user, password_secret, *command, service="broker")


def test_the_brokers_default_user_is_disabled_and_its_job_users_run_nothing_dangerous():
    assert "NOAUTH" in broker_as(None, None, "PING")
    for user in ("app", "worker"):
        password = f"broker_{user}_password"
        assert broker_as(user, password, "PING") == "PONG"
        for command in (["KEYS", "*"], ["FLUSHALL"], ["CONFIG", "SET", "appendonly", "no"]):
            assert "NOPERM" in broker_as(user, password, *command), (user, command)
    assert "NOPERM" in broker_as("monitor", "broker_monitor_password", "LLEN", "jobs")


def test_the_broker_keeps_every_job_on_disk_and_never_evicts_one():
    def setting(name: str) -> str:
        return broker_as("monitor", "broker_monitor_password", "CONFIG", "GET", name).split()[-1]

    assert setting("appendonly") == "yes"
    assert setting("appendfsync") == "always"
    assert setting("maxmemory-policy") == "noeviction"
    mounts = {m["Destination"]: m["Type"] for m in inspect("broker")["Mounts"]}
    assert mounts.get("/data") == "volume"


# --- Who reaches whom ----------------------------------------------------------------------

REACH = """
import socket
try:
    socket.create_connection(({host!r}, {port}), timeout=3).close()
    print("reached")
except OSError as error:
    print("blocked", type(error).__name__)
"""


def reaches(service: str, host: str, port: int) -> bool:
    """Whether a TCP connection from inside SERVICE's network namespace to HOST:PORT opens."""
    return run_python_in_network_of(service, REACH.format(host=host, port=port)) == "reached"


FORGE = """
import http.client, json
connection = http.client.HTTPConnection("app", 8000, timeout=10)
connection.request("POST", "/api/items", json.dumps({"name": "forged"}), {
    "Host": "localhost", "Content-Type": "application/json", "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example", "X-Forwarded-For": "203.0.113.66"})
response = connection.getresponse()
print(response.status, response.getheader("Location"))
"""


@pytest.mark.parametrize("service", ["prometheus", "postgres", "redis", "postgres-exporter"])
def test_a_forged_host_sent_straight_to_the_app_never_reaches_a_location(service):
    status, location = run_python_in_network_of(service, FORGE).split(" ", 1)
    assert status == "403", f"{service} got {status} from the app"
    assert location == "None"


def test_the_edge_is_the_apps_one_client_and_its_forwarded_host_counts(http):
    created = http.post(f"{BASE}/api/items", json={"name": "through the edge"}, timeout=10)
    assert created.status_code == 201
    assert created.headers["Location"].startswith(f"{BASE}/api/items/")


def test_alertmanager_is_reachable_by_prometheus_alone():
    assert reaches("prometheus", "alertmanager", 9093)
    for service in ("app", "nginx", "postgres"):
        assert not reaches(service, "alertmanager", 9093), f"{service} reaches Alertmanager"


def test_prometheus_reaches_the_metrics_ports_not_the_data_services():
    assert reaches("prometheus", "app", 9100)
    assert reaches("prometheus", "worker", 9100)
    for host, port in [("postgres", 5432), ("redis", 6379), ("broker", 6379), ("nginx", 8443)]:
        assert not reaches("prometheus", host, port), f"Prometheus reaches {host}:{port}"


def test_nginx_reaches_the_app_and_nothing_behind_it():
    assert reaches("nginx", "app", 8000)
    for host, port in [("postgres", 5432), ("redis", 6379), ("broker", 6379), ("prometheus", 9090)]:
        assert not reaches("nginx", host, port), f"nginx reaches {host}:{port}"


# --- Prometheus's exposure -----------------------------------------------------------------


def rendered(**env: str) -> dict:
    return json.loads(compose("config", "--format", "json", env=env).stdout)


def published(config: dict, service: str) -> set[str]:
    return {port.get("host_ip", "0.0.0.0") for port in config["services"][service]["ports"]}


def test_publishing_the_edge_everywhere_leaves_prometheus_on_loopback():
    config = rendered(BIND_ADDRESS="0.0.0.0")
    assert published(config, "nginx") == {"0.0.0.0"}
    assert published(config, "prometheus") == {"127.0.0.1"}


@pytest.fixture
def prometheus_published() -> Iterator[None]:
    env = {"PROMETHEUS_BIND_ADDRESS": "0.0.0.0"}
    compose("up", "-d", "--no-deps", "--wait", "--wait-timeout", "90", "prometheus", env=env)
    try:
        yield
    finally:
        compose("up", "-d", "--no-deps", "--wait", "--wait-timeout", "90", "prometheus")
        wait_healthy("prometheus")


@pytest.mark.exclusive
def test_prometheus_published_beyond_loopback_demands_tls_and_a_password(prometheus_published):
    url = f"https://127.0.0.1:{PROMETHEUS_PORT}/api/v1/status/config"
    ca = str(SECRETS_DIR / "prometheus_tls.crt")
    # Plain HTTP gets Go's "client sent an HTTP request to an HTTPS server", and no data.
    plain = requests.get(f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/status/config", timeout=5)
    assert plain.status_code == 400 and "yaml" not in plain.text
    assert requests.get(url, verify=ca, timeout=5).status_code == 401
    wrong = requests.get(url, verify=ca, auth=("prometheus", "guess"), timeout=5)
    assert wrong.status_code == 401
    right = requests.get(url, verify=ca, auth=("prometheus", secret("prometheus_password")),
                         timeout=5)  # fmt: skip
    assert right.status_code == 200
    # Its own scrape speaks TLS and the password too, and checks the certificate.
    client = prometheus.Client(tls=True)

    def scraped_over_tls() -> bool:
        targets = client.get("/api/v1/targets")["activeTargets"]
        own = [t for t in targets if t["labels"]["job"] == "prometheus"]
        return [(t["scrapeUrl"].split(":")[0], t["health"]) for t in own] == [("https", "up")]

    wait_for(scraped_over_tls, 60, 2, "Prometheus scraping itself over TLS")


# --- Every path limited --------------------------------------------------------------------


@pytest.mark.exclusive
@pytest.mark.parametrize("path", ["/", "/health", "/healthz"])
def test_a_flood_of_any_path_meets_429_and_never_a_5xx(path):
    session = new_session(retry_on_429=False)
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda _: session.get(f"{BASE}{path}", timeout=10).status_code,
                                 range(300)))  # fmt: skip
    assert 429 in statuses, f"no 429 in 300 rapid requests to {path}"
    assert not [s for s in statuses if s >= 500], statuses
    limited = session.get(f"{BASE}{path}", timeout=10)
    if limited.status_code == 429:
        assert limited.headers["Retry-After"] == "1"
        assert_security_headers_once(limited)
    wait_for(lambda: session.get(f"{BASE}{path}", timeout=5).status_code == 200, 10, 0.5,
             "the bucket to refill")  # fmt: skip


@pytest.fixture
def three_connections_allowed() -> Iterator[None]:
    with overridden("nginx", {"environment": {"CONN_LIMIT": "3"}}):
        yield


@pytest.mark.exclusive
def test_more_connections_at_once_than_the_limit_meet_429(three_connections_allowed):
    # A frozen app holds every request nginx passes it: three stay open, the fourth is over.
    results: list[int] = []
    compose("pause", "app")
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            held = [pool.submit(lambda: new_session(retry_on_429=False).get(
                f"{BASE}/api/items", timeout=30).status_code) for _ in range(3)]  # fmt: skip
            wait_for(lambda: nginx_active_requests() >= 3, 15, 0.2, "three held requests")
            over = new_session(retry_on_429=False).get(f"{BASE}/api/items", timeout=10)
            assert over.status_code == 429
            assert over.json()["error"]["code"] == "rate_limited"
            compose("unpause", "app")
            results = [future.result() for future in held]
    finally:
        compose("unpause", "app", check=False)
        # Docker marks a paused container unhealthy until its next passing check: wait for it,
        # or the fixture's recreation of nginx would find its dependency unhealthy.
        wait_healthy("app")
    assert results == [200, 200, 200]


STUB_STATUS = (
    "exec 3<>/dev/tcp/127.0.0.1/8081; printf 'GET /stub_status HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3"
)


def nginx_active_requests() -> int:
    """Requests nginx is answering now (its stub_status), the status request itself aside."""
    status = compose("exec", "-T", "nginx", "bash", "-c", STUB_STATUS).stdout
    return int(status.split("Writing:")[1].split()[0]) - 1


# --- Oversized requests under /api ---------------------------------------------------------


def raw_https(request: bytes) -> bytes:
    context = ssl.create_default_context(cafile=CA_FILE)
    with (
        socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def json_error(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), head
    for leak in (b"nginx/", b"gunicorn", b"<html", b"Request Line"):
        assert leak not in answer, answer[:300]
    return status, json.loads(body)["error"]["code"]


def test_a_very_long_uri_under_api_gets_json_from_the_app():
    answer = raw_https(b"GET /api/items/" + b"9" * 6000 + b" HTTP/1.1\r\nHost: localhost\r\n"
                       b"Connection: close\r\n\r\n")  # fmt: skip
    assert json_error(answer) == (404, "not_found")


def test_a_header_over_nginxs_limit_under_api_gets_json():
    answer = raw_https(b"GET /api/items HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"y" * 20000
                       + b"\r\nConnection: close\r\n\r\n")  # fmt: skip
    assert json_error(answer) == (400, "bad_request")


def test_a_header_just_under_16_kib_under_api_is_served():
    """security.md: "request lines and headers up to 16 KiB" pass nginx (and gunicorn)."""
    answer = raw_https(b"GET /api/items?limit=1 HTTP/1.1\r\nHost: localhost\r\nX-Big: "
                       + b"y" * 16000 + b"\r\nConnection: close\r\n\r\n")  # fmt: skip
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


def test_a_request_line_over_16_kib_is_refused_with_414_in_json_under_api_only():
    long_path = b"9" * 17000
    answer = raw_https(b"GET /api/items/" + long_path + b" HTTP/1.1\r\nHost: localhost\r\n"
                       b"Connection: close\r\n\r\n")  # fmt: skip
    # Refused before nginx chooses a location: still the contract's JSON under /api.
    assert answer.startswith(b"HTTP/1.1 414 "), answer[:200]
    assert json_error(answer) == (414, "uri_too_long")
    page = raw_https(b"GET /" + long_path + b" HTTP/1.1\r\nHost: localhost\r\n"
                     b"Connection: close\r\n\r\n")  # fmt: skip
    assert page.startswith(b"HTTP/1.1 414 "), page[:200]
    assert b"<title>URI too long</title>" in page, page[:400]


def test_many_headers_under_api_are_served_as_json_never_refused_in_html(http):
    headers = {f"X-Header-{i}": "z" for i in range(150)}
    response = http.get(f"{BASE}/api/items?limit=1", headers=headers, timeout=10)
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.status_code in {200, 400}


def test_a_2_mib_body_under_api_gets_413_json(http):
    response = http.post(f"{BASE}/api/items", data=b"{" + b" " * (2 << 20) + b"}",
                         headers={"Content-Type": "application/json"}, timeout=30)  # fmt: skip
    assert response.status_code == 413
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "payload_too_large"


# --- TLS names -----------------------------------------------------------------------------


def test_an_unknown_server_name_gets_no_certificate():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=5) as raw,
        pytest.raises(ssl.SSLError),
        context.wrap_socket(raw, server_hostname="evil.example"),
    ):
        pass
    with (
        socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.getpeercert(binary_form=True)


# --- Secret files ------------------------------------------------------------------------------


def readers(name: str) -> set[int]:
    users = set()
    for spec in compose_config()["services"].values():
        if any(s["source"] == name for s in spec.get("secrets") or []):
            users.add(int(str(spec["user"]).split(":")[0]))
    return users


def test_no_secret_file_is_world_readable_and_each_belongs_to_its_readers():
    files = [p for p in SECRETS_DIR.iterdir() if p.is_file()]
    key = Path(compose_config()["services"]["nginx"]["volumes"][1]["source"])
    assert key.name == "privkey.pem"
    for path in [*files, key]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert not mode & 0o007, f"{path} is readable by others ({oct(mode)})"
    for name, spec in compose_config()["secrets"].items():
        path = Path(spec["file"])
        info = path.stat()
        users = readers(name)
        assert info.st_uid in users, f"{name} belongs to {info.st_uid}, read by {users}"
        if len(users) == 2:
            assert stat.S_IMODE(info.st_mode) == 0o440
            assert info.st_gid in users
        elif users:
            assert stat.S_IMODE(info.st_mode) == 0o400
    assert key.stat().st_uid == int(compose_config()["services"]["nginx"]["user"].split(":")[0])
