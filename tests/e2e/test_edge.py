"""The nginx edge: TLS, redirects, headers, static files, compression, limits, request ids."""

from __future__ import annotations

import concurrent.futures
import json
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.acme import challenge_file
from tests.support.contract import (
    assert_security_headers_once,
    handshake,
    landing_stylesheet,
    tls_client,
)
from tests.support.edge import BASE, CA_FILE, HTTP_BASE, new_session
from tests.support.settings import CERT_DIR, HTTP_PORT, HTTPS_PORT
from tests.support.stack import compose, inspect, stopped, wait_healthy

# --- TLS ---------------------------------------------------------------------------------


def legacy_client() -> ssl.SSLContext:
    """A client that offers only TLS 1.0/1.1, at OpenSSL security level 0 so that it can."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    return context


@pytest.fixture
def local_tls11_server(tmp_path: Path) -> Iterator[int]:
    """A TLS 1.1 server on loopback, to prove the legacy client can really speak TLS 1.1."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.set_ciphers("DEFAULT:@SECLEVEL=0")
    server_context.minimum_version = ssl.TLSVersion.TLSv1
    server_context.maximum_version = ssl.TLSVersion.TLSv1_1
    server_context.load_cert_chain(CERT_DIR / "fullchain.pem", CERT_DIR / "privkey.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with server_context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()
    thread.join(timeout=5)


def test_tls_1_1_and_older_are_refused(local_tls11_server):
    client = legacy_client()
    with handshake(client, port=local_tls11_server) as sock:
        assert sock.version() == "TLSv1.1", "the test client cannot speak TLS 1.1: proves nothing"
    with pytest.raises(ssl.SSLError):
        handshake(client).close()


def test_tls_sessions_are_resumed():
    # A cache may miss once (a reload, an eviction); with no session cache it never hits.
    context = tls_client(maximum_version=ssl.TLSVersion.TLSv1_2)
    reused = []
    for _ in range(3):
        with handshake(context) as first:
            session = first.session
        raw = socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=5)
        with context.wrap_socket(raw, server_hostname="localhost", session=session) as second:
            reused.append(second.session_reused)
        if reused[-1]:
            break
    assert any(reused), "no TLS session was ever resumed"


# --- Redirects and hosts -----------------------------------------------------------------


def test_acme_challenge_is_served_over_plain_http():
    # The `acme` service writes the webroot (a volume nginx reads): tests/e2e/test_acme.py.
    with challenge_file("challenge-response") as token:
        response = requests.get(
            f"{HTTP_BASE}/.well-known/acme-challenge/{token}", allow_redirects=False, timeout=5
        )
        assert response.status_code == 200
        assert response.text == "challenge-response"


@pytest.mark.parametrize("scheme_port", [("https", HTTPS_PORT), ("http", HTTP_PORT)])
def test_unknown_host_is_closed_without_an_answer(scheme_port):
    scheme, port = scheme_port
    with pytest.raises(requests.ConnectionError):
        requests.get(
            f"{scheme}://localhost:{port}/",
            headers={"Host": "evil.example"},
            verify=CA_FILE,
            allow_redirects=False,
            timeout=5,
        )


# --- Headers -----------------------------------------------------------------------------


def test_http_responses_carry_no_hsts():
    response = requests.get(f"{HTTP_BASE}/", allow_redirects=False, timeout=5)
    assert "Strict-Transport-Security" not in response.headers


# --- Request ids -------------------------------------------------------------------------


def test_a_well_formed_client_request_id_is_kept(http):
    request_id = f"client-{uuid.uuid4().hex}"
    response = http.get(f"{BASE}/healthz", headers={"X-Request-ID": request_id}, timeout=5)
    assert response.headers["X-Request-ID"] == request_id


@pytest.mark.parametrize("kept", ["a" * 8, "a" * 128])
def test_a_client_request_id_of_8_to_128_characters_is_kept(http, kept):
    response = http.get(f"{BASE}/healthz", headers={"X-Request-ID": kept}, timeout=5)
    assert response.headers["X-Request-ID"] == kept


@pytest.mark.parametrize(
    "bad", ["short", "a" * 7, "a" * 129, "has spaces in it", "x" * 200, "semi;colon-1234"]
)
def test_a_malformed_client_request_id_is_replaced(http, bad):
    response = http.get(f"{BASE}/healthz", headers={"X-Request-ID": bad}, timeout=5)
    assert response.headers["X-Request-ID"] != bad
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_spoofed_forwarded_for_never_becomes_the_client_address(http):
    request_id = f"spoof-{uuid.uuid4().hex}"
    response = http.get(
        f"{BASE}/api/items",
        headers={"X-Request-ID": request_id, "X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6"},
        timeout=5,
    )
    assert response.status_code == 200
    app_line = find_log_line("app", request_id)
    assert app_line["remote_addr"] != "6.6.6.6"
    assert "6.6.6.6" not in json.dumps(app_line)
    edge_line = find_log_line("nginx", request_id)
    assert edge_line["remote_addr"] == app_line["remote_addr"]
    for field in ("time", "method", "uri", "status", "bytes", "request_time", "upstream_time"):
        assert field in edge_line
    assert edge_line["user_agent"].startswith("python-requests")


def find_log_line(service: str, request_id: str, timeout: float = 10) -> dict:
    """The JSON log line of `service` that carries `request_id`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = compose("logs", "--no-color", "--no-log-prefix", "--since", "5m", service).stdout
        for line in logs.splitlines():
            # Compose may put terminal control codes before the line: the JSON starts at "{".
            if request_id in line and "{" in line:
                record = json.loads(line[line.index("{") :])
                if record.get("request_id") == request_id:
                    return record
        time.sleep(0.5)
    pytest.fail(f"no {service} log line carries request id {request_id}")


# --- Static files and compression -------------------------------------------------------


def test_unfingerprinted_assets_get_a_shorter_cache(http):
    response = http.get(f"{BASE}/static/css/site.css", timeout=5)
    assert response.status_code == 200
    max_age = int(re.search(r"max-age=(\d+)", response.headers["Cache-Control"]).group(1))
    assert max_age == 86400  # a day (docs/contract.md)
    assert "immutable" not in response.headers["Cache-Control"]


def test_static_text_is_served_precompressed_with_vary(http):
    url = f"{BASE}{landing_stylesheet(http)}"
    plain = http.get(url, headers={"Accept-Encoding": "identity"}, timeout=5)
    gzipped = http.get(url, headers={"Accept-Encoding": "gzip"}, stream=True, timeout=5)
    body = gzipped.raw.read(decode_content=False)
    assert gzipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in gzipped.headers["Vary"]
    assert body[:2] == b"\x1f\x8b"
    assert len(body) < len(plain.content)
    # gzip_static serves the file built with the image, whose length nginx knows up front.
    assert "Content-Length" in gzipped.headers


GZIP_MIN_LENGTH = 256  # nginx's gzip_min_length: shorter bodies are sent as they are


@pytest.mark.parametrize(
    ("path", "content_type"), [("/", "text/html"), ("/api/items?limit=20", "application/json")]
)
def test_dynamic_html_and_json_are_gzipped(http, path, content_type):
    for index in range(3):  # a list long enough to be worth compressing
        http.post(f"{BASE}/api/items", json={"name": f"gzip {index}", "description": "x" * 100})
    response = http.get(f"{BASE}{path}", headers={"Accept-Encoding": "gzip"}, timeout=5)
    assert response.headers["Content-Type"].startswith(content_type)
    assert len(response.content) >= GZIP_MIN_LENGTH, "too short to prove anything"
    assert response.headers.get("Content-Encoding") == "gzip"
    assert "Accept-Encoding" in response.headers.get("Vary", "")


def test_a_body_under_gzip_min_length_is_sent_as_it_is(http):
    response = http.get(f"{BASE}/health", headers={"Accept-Encoding": "gzip"}, timeout=5)
    assert len(response.content) < GZIP_MIN_LENGTH
    assert "Content-Encoding" not in response.headers


def test_a_large_json_list_is_gzipped(http):
    for index in range(3):
        http.post(
            f"{BASE}/api/items", json={"name": f"gzip probe {index}", "description": "x" * 200}
        )
    response = http.get(f"{BASE}/api/items", headers={"Accept-Encoding": "gzip"}, timeout=5)
    assert response.status_code == 200
    assert response.headers.get("Content-Encoding") == "gzip"


# --- Limits -------------------------------------------------------------------------------

# The edge's settings and the defaults docs/security.md and docs/configuration.md give them,
# each with the directive nginx runs it as. A setting .env changes is expected as set.
EDGE_SETTINGS = {
    "RATE_LIMIT": ("30r/s", "limit_req_zone $binary_remote_addr zone=api:10m rate={};"),
    "RATE_BURST": ("60", "limit_req zone=api burst={} nodelay;"),
    "PAGE_RATE_LIMIT": ("10r/s", "limit_req_zone $binary_remote_addr zone=pages:10m rate={};"),
    "PAGE_RATE_BURST": ("30", "limit_req zone=pages burst={} nodelay;"),
    "STATIC_RATE_LIMIT": ("100r/s", "limit_req_zone $binary_remote_addr zone=static:10m rate={};"),
    "STATIC_RATE_BURST": ("200", "limit_req zone=static burst={} nodelay;"),
    "CONN_LIMIT": ("64", "limit_conn connections {};"),
    "PROXY_READ_TIMEOUT": ("25s", "proxy_read_timeout {};"),
    "NGINX_RESOLVER_VALID": ("2s", "valid={} "),
}
# Fixed in nginx/templates/, not settings.
EDGE_FIXED = [
    "client_max_body_size 1m;",
    "client_body_timeout 15s;",
    "client_header_timeout 15s;",
    "large_client_header_buffers 4 16k;",
    "proxy_next_upstream_tries 2;",
    'add_header Cache-Control "public, max-age=86400" always;',
    "add_header Retry-After 1 always;",
]


def test_nginx_runs_the_documented_edge_limits():
    environment = dict(
        line.split("=", 1) for line in inspect("nginx")["Config"]["Env"] if "=" in line
    )
    running = " ".join(
        compose("exec", "-T", "nginx", "nginx", "-T", "-c", "/tmp/nginx/nginx.conf").stdout.split()
    )
    for name, (default, directive) in EDGE_SETTINGS.items():
        expected = directive.format(environment.get(name) or default)
        assert expected in running, f"nginx runs no `{expected}` ({name})"
    for directive in EDGE_FIXED:
        assert directive in running, f"nginx runs no `{directive}`"


def test_nginx_reuses_time_wait_ports_for_new_upstream_connections():
    """nginx opens a connection to the app per request: its own network namespace reuses
    TIME_WAIT ports and has about 55 000 of them, or it runs out at about 470 requests a second
    (compose.yaml says why). Read from the kernel inside the running container."""

    def kernel(name: str) -> str:
        path = f"/proc/sys/net/ipv4/{name}"
        return " ".join(compose("exec", "-T", "nginx", "cat", path).stdout.split())

    assert kernel("tcp_tw_reuse") == "1"
    low, high = map(int, kernel("ip_local_port_range").split())
    assert high - low + 1 >= 55_000, (low, high)


@pytest.mark.exclusive
def test_static_files_have_a_higher_limit_than_pages(http):
    # A page pulls several static files at once: 150 at once stay within the static limit
    # (STATIC_RATE_BURST 200), where 150 page requests would not (PAGE_RATE_BURST 30).
    session = new_session(retry_on_429=False)
    stylesheet = landing_stylesheet(http)
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda _: session.get(f"{BASE}{stylesheet}", timeout=10)
                                 .status_code, range(150)))  # fmt: skip
    assert set(statuses) == {200}


def raw_https(request: bytes) -> bytes:
    """Send raw bytes over TLS and return whatever comes back before the server closes."""
    with handshake(tls_client()) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, ssl.SSLError, TimeoutError):
            pass
    return b"".join(chunks)


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def test_oversized_headers_are_refused_with_a_4xx():
    request = (
        b"GET /api/items HTTP/1.1\r\nHost: localhost\r\nX-Big: "
        + b"a" * 20000
        + b"\r\nConnection: close\r\n\r\n"
    )
    assert 400 <= status_of(raw_https(request)) < 500


def test_a_malformed_request_line_is_refused_with_a_4xx():
    assert 400 <= status_of(raw_https(b"G@T /\x01 HTTP/1.1\r\nHost: localhost\r\n\r\n")) < 500


def test_an_unknown_method_never_reaches_the_app_as_a_success(http):
    response = http.request("BREW", f"{BASE}/api/items", timeout=5)
    assert 400 <= response.status_code < 500


def test_a_post_to_a_static_file_is_405_with_allow_and_no_server_name(http):
    response = http.post(f"{BASE}/static/favicon.svg", data="x", timeout=5)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    assert "nginx" not in response.text


# --- With the app stopped -----------------------------------------------------------------


@pytest.fixture
def app_stopped() -> Iterator[None]:
    with stopped("app"):
        yield
    wait_healthy("nginx")


@pytest.mark.exclusive
def test_with_the_app_stopped_static_files_still_serve_and_proxied_paths_fail_cleanly(
    http, app_stopped
):
    stylesheet = http.get(f"{BASE}{landing_stylesheet_cached()}", timeout=10)
    assert stylesheet.status_code == 200
    assert "immutable" in stylesheet.headers["Cache-Control"]
    gzipped = http.get(
        f"{BASE}{landing_stylesheet_cached()}", headers={"Accept-Encoding": "gzip"}, timeout=10
    )
    assert gzipped.headers["Content-Encoding"] == "gzip"

    api = http.get(f"{BASE}/api/items", timeout=20)
    assert api.status_code in {502, 503, 504}
    assert api.headers["Content-Type"].startswith("application/json")
    assert api.json()["error"]["code"]
    assert_security_headers_once(api)

    page = http.get(f"{BASE}/", timeout=20)
    assert page.status_code in {502, 503, 504}
    assert page.headers["Content-Type"].startswith("text/html")
    assert "nginx" not in page.text.lower(), "nginx's default error page leaked"
    assert_security_headers_once(page)


_STYLESHEET: list[str] = []


def landing_stylesheet_cached() -> str:
    """The stylesheet URL, read once while the app is still up."""
    if not _STYLESHEET:
        _STYLESHEET.append(landing_stylesheet(new_session()))
    return _STYLESHEET[0]


@pytest.fixture(autouse=True, scope="module")
def _remember_stylesheet() -> None:
    landing_stylesheet_cached()
