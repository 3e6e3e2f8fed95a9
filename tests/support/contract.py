"""Assertions of the public contract (docs/contract.md) and TLS clients for the edge, used by
the contract suite and the end-to-end suite alike."""

from __future__ import annotations

import re
import socket
import ssl
import uuid

import requests

from .edge import BASE, CA_FILE
from .settings import HTTPS_PORT

ITEM_KEYS = {"id", "name", "description", "created_at", "updated_at"}

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


def create(http, name: str | None = None, description: str | None = "about it") -> dict:
    body = {"name": name or f"item {uuid.uuid4().hex[:8]}", "description": description}
    response = http.post(f"{BASE}/api/items", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def assert_error(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if field:
        assert error.get("field") == field
    lowered = response.text.lower()
    for leak in ("traceback", "werkzeug", "flask", "sqlalchemy", 'file "', "psycopg2"):
        assert leak not in lowered, f"{leak!r} leaked in a {status}"
    return error


# The values docs/contract.md gives for every HTTPS response (X-Request-ID is per request).
SECURITY_HEADER_VALUES = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
SECURITY_HEADERS = [*SECURITY_HEADER_VALUES, "X-Request-ID"]
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,128}")


def tls_client(**kwargs) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=CA_FILE)
    for name, value in kwargs.items():
        setattr(context, name, value)
    return context


def handshake(context: ssl.SSLContext, port: int = HTTPS_PORT) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return context.wrap_socket(raw, server_hostname="localhost")


def header_count(response: requests.Response, name: str) -> int:
    return len(response.raw.headers.getlist(name))


def assert_security_headers_once(response: requests.Response) -> None:
    for name in SECURITY_HEADERS:
        assert header_count(response, name) == 1, (
            f"{name} appears {header_count(response, name)} times on a {response.status_code}"
        )
    for name, value in SECURITY_HEADER_VALUES.items():
        assert response.headers[name] == value, f"{name} on a {response.status_code}"
    assert REQUEST_ID.fullmatch(response.headers["X-Request-ID"])
    assert response.headers["Server"] == "nginx", "the Server header must carry no version"


def landing_stylesheet(http: requests.Session) -> str:
    page = http.get(f"{BASE}/", timeout=5)
    match = re.search(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"', page.text)
    assert match, "the landing page does not link a fingerprinted stylesheet"
    return match.group(1)
