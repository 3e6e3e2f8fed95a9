"""The `acme` service and the TLS edge as a client of a given name sees it: the certificate
served, challenge files in the webroot, the client's metrics, and the Pebble overlay the ACME
tests run on (tests/fixtures/pebble/compose.pebble.yaml)."""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import ssl
import subprocess
import uuid
from collections.abc import Iterator

from cryptography import x509

from .settings import COMPOSE_SH, ROOT
from .stack import compose, with_compose_file

OVERLAY = ROOT / "tests" / "fixtures" / "pebble" / "compose.pebble.yaml"


def with_pebble(*args: str, check: bool = True, timeout: float = 300, stdin: str | None = None):
    """`docker compose` on the stack with the Pebble overlay on top."""
    return subprocess.run(
        [str(COMPOSE_SH), *args],
        cwd=ROOT, check=check, capture_output=True, text=True, timeout=timeout, input=stdin,
        env={**os.environ, **with_compose_file(str(OVERLAY))},
    )  # fmt: skip


def served_certificate(host: str, port: int, name: str) -> x509.Certificate:
    """The leaf certificate the edge at HOST:PORT presents for server name NAME (unverified)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der, "no certificate"
    return x509.load_der_x509_certificate(der)


# A file nginx serves itself: the certificate is the edge's business, and the app trusts only
# the host names of its own SERVER_NAME (the test domain is nginx's alone).
STATIC_FILE = "/static/favicon.svg"


def https_status(host: str, port: int, name: str, cadata: str, path: str = STATIC_FILE) -> int:
    """One request on a new connection, the certificate verified for NAME against CADATA: the
    status code. Any TLS or connection failure raises."""
    context = ssl.create_default_context(cadata=cadata)
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        status_line = tls.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def kept_alive_connection(
    host: str, port: int, name: str, cadata: str
) -> http.client.HTTPSConnection:
    """An HTTP/1.1 connection to HOST:PORT, its certificate verified for NAME against CADATA,
    for requests one after another on the same TLS connection (keep-alive)."""
    context = ssl.create_default_context(cadata=cadata)
    connection = http.client.HTTPSConnection(name, port, context=context, timeout=10)
    raw = socket.create_connection((host, port), timeout=10)
    connection.sock = context.wrap_socket(raw, server_hostname=name)
    return connection


@contextlib.contextmanager
def challenge_file(content: str, runner=compose) -> Iterator[str]:
    """A file in the ACME webroot, written by the `acme` service (its owner); yields the token."""
    token = f"test-{uuid.uuid4().hex}"
    path = f"/srv/acme/webroot/.well-known/acme-challenge/{token}"
    write = (
        "import os, sys; os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True); "
        "open(sys.argv[1], 'w').write(sys.argv[2])"
    )
    runner("exec", "-T", "acme", "python", "-c", write, path, content)
    try:
        yield token
    finally:
        runner("exec", "-T", "acme", "rm", "-f", path, check=False)


def acme_metrics(runner=compose) -> dict[str, float]:
    """The `acme` service's metrics, read inside its container (the port is not published)."""
    read = (
        "import urllib.request; "
        "print(urllib.request.urlopen('http://127.0.0.1:9100/metrics', timeout=5).read().decode())"
    )
    text = runner("exec", "-T", "acme", "python", "-c", read).stdout
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values
