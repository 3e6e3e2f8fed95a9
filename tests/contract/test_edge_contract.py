"""The edge's contract (TLS, redirects, headers, static files, limits), over the published
ports: run against the Compose stack and the Swarm stack alike."""

from __future__ import annotations

import concurrent.futures
import math
import ssl
import time

import pytest
import requests

from tests.support.contract import (
    assert_security_headers_once,
    handshake,
    landing_stylesheet,
    tls_client,
)
from tests.support.edge import BASE, HTTP_BASE, new_session
from tests.support.settings import HTTPS_PORT, compose_config
from tests.support.stack import wait_for


def test_alpn_negotiates_http2():
    context = tls_client()
    context.set_alpn_protocols(["h2", "http/1.1"])
    with handshake(context) as sock:
        assert sock.selected_alpn_protocol() == "h2"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_1_2_and_1_3_are_accepted(version):
    context = tls_client(minimum_version=version, maximum_version=version)
    with handshake(context) as sock:
        assert sock.version() == version.name.replace("v1_", "v1.")


@pytest.mark.parametrize("path", ["/", "/a?b=1", "/api/items?limit=5&offset=10", "/x/y%20z"])
def test_http_redirects_with_301_keeping_host_port_path_and_query(path):
    response = requests.get(f"{HTTP_BASE}{path}", allow_redirects=False, timeout=5)
    assert response.status_code == 301
    assert response.headers["Location"] == f"https://localhost:{HTTPS_PORT}{path}"


def test_security_headers_appear_once_on_a_200(http):
    response = http.get(f"{BASE}/api/items", timeout=5)
    assert response.status_code == 200
    assert_security_headers_once(response)


@pytest.mark.parametrize("path", ["/api/items/999999999", "/static/no-such-file.css", "/nope"])
def test_security_headers_appear_once_on_a_404(http, path):
    response = http.get(f"{BASE}{path}", timeout=5)
    assert response.status_code == 404
    assert_security_headers_once(response)


def test_fingerprinted_assets_are_cached_for_a_year_as_immutable(http):
    response = http.get(f"{BASE}{landing_stylesheet(http)}", timeout=5)
    assert response.status_code == 200
    cache_control = response.headers["Cache-Control"]
    assert "max-age=31536000" in cache_control
    assert "immutable" in cache_control
    assert_security_headers_once(response)


def test_a_body_over_1_mib_gets_413_json(http):
    response = http.post(
        f"{BASE}/api/items",
        data=b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}',
        headers={"Content-Type": "application/json"},
        timeout=20,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"]
    assert_security_headers_once(response)


def test_a_body_of_exactly_1_mib_passes_the_edge(http):
    """nginx's client_max_body_size 1m is inclusive: the app reads the body and judges it."""
    head, tail = b'{"name": "', b'"}'
    body = head + b"x" * (1024 * 1024 - len(head) - len(tail)) + tail
    response = http.post(
        f"{BASE}/api/items", data=body, headers={"Content-Type": "application/json"}, timeout=20
    )
    assert response.status_code == 422, response.text[:200]
    assert response.json()["error"]["code"] == "validation_error"


def api_limits() -> tuple[float, int]:
    """The `api` zone's rate (per second) and burst: .env's, or the defaults of security.md."""
    environment = compose_config()["services"]["nginx"].get("environment") or {}
    rate = environment.get("RATE_LIMIT") or "30r/s"
    assert rate.endswith("r/s"), f"this test reads a rate per second, not {rate}"
    return float(rate[:-3]), int(environment.get("RATE_BURST") or 60)


@pytest.mark.exclusive
def test_a_burst_gets_429_with_retry_after_and_no_5xx():
    rate, burst = api_limits()
    session = new_session(retry_on_429=False)
    url = f"{BASE}/api/items?limit=1"
    # An empty bucket first: the most earlier tests can have put in it drains in burst / rate.
    time.sleep(burst / rate + 0.1)

    # One kept-alive connection per thread: the client must outpace the rate, TLS handshakes
    # would slow it down.
    session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=32))

    def fetch(_: int) -> requests.Response:
        return session.get(url, timeout=10)

    # Rounds of 150 at once until one meets the limit (a slow, busy host serves fewer a second).
    responses: list[requests.Response] = []
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        while len(responses) < 900 and time.monotonic() - started < 40:
            responses += pool.map(fetch, range(150))
            if any(r.status_code == 429 for r in responses):
                break
    elapsed = time.monotonic() - started
    statuses = [r.status_code for r in responses]
    limited = [r for r in responses if r.status_code == 429]
    assert limited, f"no 429 in {len(statuses)} requests in {elapsed:.1f} s"
    assert not [s for s in statuses if s >= 500], statuses
    assert set(statuses) <= {200, 429}
    # nginx lets burst + 1 through at once, then `rate` more each second: no fewer, no more.
    passed = statuses.count(200)
    assert burst + 1 <= passed <= burst + 1 + math.ceil(rate * elapsed) + 2, (passed, elapsed)
    assert limited[0].headers["Retry-After"] == "1"
    assert limited[0].json()["error"]["code"] == "rate_limited"
    assert_security_headers_once(limited[0])
    # The edge answers again once the bucket refills (the next tests honour Retry-After too).
    wait_for(lambda: session.get(f"{BASE}/api/items?limit=1", timeout=5).status_code == 200,
             10, 0.5, "the rate-limit bucket to refill")  # fmt: skip


@pytest.mark.parametrize("path", ["/metrics", "/metrics/", "/stub_status", "/nginx_status"])
def test_internal_endpoints_are_404_at_the_edge(http, path):
    assert http.get(f"{BASE}{path}", timeout=5).status_code == 404
