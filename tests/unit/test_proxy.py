"""The app serves its trusted proxies only, takes forwarded headers from them alone, and refuses
hosts it does not serve."""

from __future__ import annotations

import pytest

from app import proxy
from app.proxy import TrustedProxies
from tests.unit.conftest import build_app

pytestmark = pytest.mark.unit

NGINX = "172.30.0.5"


def app_behind(trusted: str, **settings: object):
    app = build_app(TRUSTED_PROXIES=[trusted], **settings)
    return app.test_client()


def post_from(client, peer: str, **headers: str):
    return client.post(
        "/api/items",
        json={"name": "from somewhere"},
        environ_base={"REMOTE_ADDR": peer},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Port": "8443", **headers},
    )


@pytest.mark.usefixtures("database")
def test_a_request_from_the_trusted_proxy_takes_its_forwarded_host(monkeypatch):
    monkeypatch.setattr(proxy, "resolve_name", lambda name: {NGINX} if name == "nginx" else set())
    client = app_behind("nginx")
    response = post_from(client, NGINX, **{"X-Forwarded-Host": "localhost"})
    assert response.status_code == 201
    assert response.headers["Location"].startswith("https://localhost:8443/api/items/")


def test_any_other_peer_is_refused_and_its_forged_host_never_reaches_a_location(monkeypatch):
    monkeypatch.setattr(proxy, "resolve_name", lambda name: {NGINX})
    client = app_behind("nginx")
    response = post_from(client, "172.30.0.9", **{"X-Forwarded-Host": "evil.example"})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert "Location" not in response.headers


def test_loopback_callers_are_served_without_forwarded_headers(monkeypatch):
    monkeypatch.setattr(proxy, "resolve_name", lambda name: {NGINX})
    client = app_behind("nginx")
    response = client.get(
        "/healthz",
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
        headers={"X-Forwarded-Host": "evil.example"},
    )
    assert response.status_code == 200
    created = post_from(client, "127.0.0.1", **{"X-Forwarded-Host": "evil.example"})
    assert "evil.example" not in created.headers.get("Location", "")


def test_networks_are_trusted_as_written_without_a_look_up(monkeypatch):
    def no_dns(name: str) -> set[str]:
        raise AssertionError("a network needs no look-up")

    monkeypatch.setattr(proxy, "resolve_name", no_dns)
    trusted = TrustedProxies(["10.1.0.0/16", "192.0.2.7"])
    assert "10.1.200.3" in trusted and "192.0.2.7" in trusted
    assert "10.2.0.1" not in trusted and "not an address" not in trusted


def test_a_new_proxy_address_is_followed_and_a_failed_look_up_keeps_the_last_one(monkeypatch):
    answers = [{"10.0.0.1"}, {"10.0.0.2"}, set()]
    monkeypatch.setattr(proxy, "RETRY_SECONDS", 0)
    trusted = TrustedProxies(["nginx"], resolve=lambda name: answers.pop(0))
    assert "10.0.0.1" in trusted
    assert "10.0.0.2" in trusted  # nginx recreated: an unknown peer triggers a new look-up
    assert "10.0.0.2" in trusted  # DNS failed: the last good answer stays
    assert "10.0.0.1" not in trusted


@pytest.mark.usefixtures("database")
def test_without_trusted_proxies_every_peer_is_served_and_forwarded_headers_count():
    client = build_app().test_client()
    response = post_from(client, "172.30.0.9", **{"X-Forwarded-Host": "localhost"})
    assert response.status_code == 201


@pytest.mark.parametrize(("host", "status"), [("example.com", 200), ("evil.example", 400)])
def test_hosts_other_than_the_server_names_are_refused(host: str, status: int):
    app = build_app(TRUSTED_HOSTS=["example.com", "localhost", "127.0.0.1"])
    response = app.test_client().get("/healthz", headers={"Host": host})
    assert response.status_code == status
