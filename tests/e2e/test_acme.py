"""Real certificates: the `acme` service against Pebble, a local ACME CA (Debian's `pebble`).

The module's fixture puts tests/fixtures/pebble/compose.pebble.yaml on top of the running stack
(Pebble, its challenge test server, nginx serving acme.test, the `acme` service pointed at
Pebble), and puts the stack back afterwards. Requests go only to the edge's published ports on
127.0.0.1, with acme.test as the TLS server name and Host.

- issuance: the edge serves a certificate for acme.test issued by Pebble's CA;
- renewal: a forced renewal replaces it (new serial, later notAfter) while a request stream
  sees no failure, with no command but the renewal;
- expired: with an expired certificate installed, the challenge path still answers over HTTP,
  and the next renewal replaces it;
- failure: with the CA stopped, renewal fails, the old certificate keeps serving, and the
  failure shows as a JSON log line and a metric (last, since Pebble forgets everything when it
  restarts).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import images
from tests.support.acme import (
    STATIC_FILE,
    acme_metrics,
    challenge_file,
    https_status,
    kept_alive_connection,
    served_certificate,
    with_pebble,
)
from tests.support.edge import CA_FILE
from tests.support.settings import HTTP_PORT, HTTPS_PORT, PROJECT, ROOT
from tests.support.stack import compose, docker, inspect, json_log_lines, wait_for

DOMAIN = "acme.test"
EDGE = "127.0.0.1"
# A certificate change shows at the edge within this (nginx checks every CERT_POLL_SECONDS).
PICKED_UP = 30


def cert_poll_seconds() -> int:
    """How often the running nginx looks for a new certificate: its CERT_POLL_SECONDS, or the
    default nginx/docker-entrypoint.sh gives it."""
    env = dict(line.split("=", 1) for line in inspect("nginx")["Config"]["Env"] if "=" in line)
    if env.get("CERT_POLL_SECONDS"):
        return int(env["CERT_POLL_SECONDS"])
    entrypoint = (ROOT / "nginx" / "docker-entrypoint.sh").read_text()
    return int(re.search(r"\$\{CERT_POLL_SECONDS:-(\d+)\}", entrypoint)[1])


def pebble_root() -> str:
    """The root that Pebble issues under (new each time Pebble starts), from its management
    interface."""
    fetch = (
        "import ssl, urllib.request; "
        "context = ssl._create_unverified_context(); "
        "print(urllib.request.urlopen('https://127.0.0.1:15000/roots/0', context=context, "
        "timeout=5).read().decode())"
    )
    root = with_pebble("exec", "-T", "pebble", "python3", "-c", fetch).stdout
    assert "BEGIN CERTIFICATE" in root
    return root


def served() -> x509.Certificate:
    return served_certificate(EDGE, HTTPS_PORT, DOMAIN)


def issued_by_pebble_for_the_domain() -> bool:
    """The edge's certificate for acme.test verifies against Pebble's root, for that name."""
    return https_status(EDGE, HTTPS_PORT, DOMAIN, pebble_root()) == 200


def edge_serves_the_self_signed_certificate() -> bool:
    return https_status(EDGE, HTTPS_PORT, "localhost", open(CA_FILE).read()) == 200


def acme(*args: str, check: bool = True, stdin: str | None = None):
    """`python -m acmeloop ARGS` in the running `acme` container, as `make renew-cert` runs it."""
    return with_pebble("exec", "-T", "acme", "python", "-m", "acmeloop", *args,
                       check=check, stdin=stdin)  # fmt: skip


def acme_log_lines(since: str = "2m") -> list[dict]:
    return [line for line in json_log_lines("acme", since) if line.get("logger") == "acme"]


@pytest.fixture(scope="module")
def pebble() -> Iterator[None]:
    images.pebble()
    with_pebble("up", "-d", "--no-build", "--wait", "--wait-timeout", "240",
                "pebble", "challtestsrv", "nginx", "acme", timeout=600)  # fmt: skip
    try:
        # The `acme` service obtains the certificate as soon as it starts.
        wait_for(issued_by_pebble_for_the_domain, 120, 2, "a Pebble certificate for acme.test")
        yield
    finally:
        compose("up", "-d", "--no-build", "--wait", "--wait-timeout", "240", "nginx", "acme",
                timeout=600)  # fmt: skip
        with_pebble("rm", "-s", "-f", "pebble", "challtestsrv", check=False)
        docker("volume", "rm", f"{PROJECT}_pebble_ca", check=False)
        # Unconfigured again, the `acme` service removes the Pebble certificate.
        wait_for(edge_serves_the_self_signed_certificate, 60, 1, "the self-signed certificate")


# --- Without a domain ------------------------------------------------------------------------


def test_without_a_domain_the_client_idles_and_the_self_signed_certificate_stays():
    assert edge_serves_the_self_signed_certificate()
    values = acme_metrics()
    assert values["acme_configured"] == 0
    assert values["acme_certificate_installed"] == 0


def test_the_client_runs_in_nginxs_group_and_nginx_cannot_read_its_account_key():
    user = compose("exec", "-T", "acme", "id", "-u").stdout.strip()
    group = compose("exec", "-T", "acme", "id", "-g").stdout.strip()
    assert (user, group) == ("10002", "101")
    state = compose("exec", "-T", "acme", "stat", "-c", "%a %u", "/srv/acme/state").stdout.split()
    assert state == ["700", "10002"]
    # No other container of the stack mounts the client's state (its account key with it).
    volume = f"{PROJECT}_acme_state"
    ids = compose("ps", "-q").stdout.split()
    mounting = {
        container["Config"]["Labels"]["com.docker.compose.service"]
        for container in json.loads(docker("inspect", *ids).stdout)
        if any(mount.get("Name") == volume for mount in container["Mounts"])
    }
    assert mounting == {"acme"}, mounting
    # And nginx's user, given the volume, could still not read a file in it: a throwaway
    # container of nginx's image as nginx's user and group, the volume read-only.
    image = inspect("nginx")["Config"]["Image"]
    nginx_user = inspect("nginx")["Config"]["User"]
    read = docker("run", "--rm", "--network", "none", "--user", nginx_user, "--read-only",
                  "-v", f"{volume}:/state:ro", "--entrypoint", "sh", image, "-c",
                  "ls /state; find /state -type f | head -n 1", check=False)  # fmt: skip
    assert read.returncode != 0 or not read.stdout.strip(), read.stdout
    assert "Permission denied" in read.stderr, read.stderr


# --- Against Pebble --------------------------------------------------------------------------


@pytest.mark.exclusive
def test_issuance_the_edge_serves_a_certificate_from_the_ca_for_the_domain(pebble):
    assert issued_by_pebble_for_the_domain()
    cert = served()
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [DOMAIN]
    assert "Pebble" in cert.issuer.rfc4514_string()
    # Installed for nginx's group alone: the key is 0640, owned by the client, group nginx.
    key = compose("exec", "-T", "nginx", "stat", "-L", "-c", "%a %u %g",
                  "/etc/nginx/acme/privkey.pem").stdout.split()  # fmt: skip
    assert key == ["640", "10002", "101"]
    values = acme_metrics(with_pebble)
    assert values["acme_configured"] == 1
    assert values["acme_certificate_not_after_seconds"] == cert.not_valid_after_utc.timestamp()
    successes = [line for line in acme_log_lines("10m") if line["outcome"] == "success"]
    assert successes and successes[-1]["serial"] == format(cert.serial_number, "x")


@pytest.mark.exclusive
def test_port_80_serves_the_challenge_path_and_redirects_everything_else(pebble):
    with challenge_file("token-content", with_pebble) as token:
        response = challenge(token)
        assert (response.status_code, response.text) == (200, "token-content")
    other = requests.get(f"http://{EDGE}:{HTTP_PORT}/page", headers={"Host": DOMAIN},
                         allow_redirects=False, timeout=5)  # fmt: skip
    assert other.status_code == 301
    assert other.headers["Location"] == f"https://{DOMAIN}:{HTTPS_PORT}/page"


def challenge(token: str) -> requests.Response:
    """The challenge path over plain HTTP, as the CA asks for it."""
    url = f"http://{EDGE}:{HTTP_PORT}/.well-known/acme-challenge/{token}"
    return requests.get(url, headers={"Host": DOMAIN}, allow_redirects=False, timeout=5)


class Stream:
    """Requests through the edge (a static file, nginx's own: the app trusts only its own
    SERVER_NAME), verified for acme.test against Pebble's root, until stopped; every outcome
    counted. Two threads open a new TLS connection per request, so each sees the certificate
    served at that moment; one keeps a single keep-alive connection for the whole stream and
    never retries, so a connection the edge closed (as a reload would) counts as a failure."""

    def __init__(self, root: str, threads: int = 2, pause: float = 0.1) -> None:
        self.root, self.pause = root, pause
        self.outcomes: Counter[str] = Counter()
        self.kept_alive = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.deadline = time.monotonic() + 120
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]
        self.threads.append(threading.Thread(target=self.run_on_one_connection, daemon=True))

    def count(self, outcome: str) -> None:
        with self.lock:
            self.outcomes[outcome] += 1

    def run(self) -> None:
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            try:
                outcome = str(https_status(EDGE, HTTPS_PORT, DOMAIN, self.root))
            except Exception as error:  # a garbled or empty answer too, never a silent end
                outcome = f"error: {type(error).__name__}: {error}"
            self.count(outcome)
            time.sleep(self.pause)

    def run_on_one_connection(self) -> None:
        connection = kept_alive_connection(EDGE, HTTPS_PORT, DOMAIN, self.root)
        try:
            while not self.stop.is_set() and time.monotonic() < self.deadline:
                try:
                    connection.request("GET", STATIC_FILE)
                    response = connection.getresponse()
                    response.read()
                except Exception as error:  # the connection lost, or a garbled answer
                    self.count(f"keep-alive error: {type(error).__name__}: {error}")
                    return
                self.count(str(response.status))
                with self.lock:
                    self.kept_alive += 1
                time.sleep(self.pause)
        finally:
            connection.close()

    def __enter__(self) -> Stream:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


@pytest.mark.exclusive
def test_renewal_a_forced_renewal_replaces_the_certificate_with_no_failed_request(pebble):
    before = served()
    with Stream(pebble_root()) as stream:
        time.sleep(2)
        # The one command: nginx notices the new certificate and reloads by itself.
        acme("renew", "--force")
        wait_for(lambda: served().serial_number != before.serial_number, PICKED_UP, 0.5,
                 "the renewed certificate at the edge")  # fmt: skip
        time.sleep(3)
    after = served()
    assert after.serial_number != before.serial_number
    assert after.not_valid_after_utc > before.not_valid_after_utc
    failures = {k: v for k, v in stream.outcomes.items() if k != "200"}
    assert not failures, f"failed requests during the renewal: {failures} of {stream.outcomes}"
    assert stream.outcomes["200"] >= 50
    # The one keep-alive connection lived through the switch: nginx was not reloaded.
    assert stream.kept_alive >= 20, stream.kept_alive


def expired_certificate() -> tuple[str, int]:
    """A key and an expired certificate for acme.test (self-signed), as one PEM; its serial."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)])
    now = dt.datetime.now(dt.UTC)
    serial = x509.random_serial_number()
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(serial)
        .not_valid_before(now - dt.timedelta(days=100))
        .not_valid_after(now - dt.timedelta(days=10))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(DOMAIN)]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + cert.public_bytes(serialization.Encoding.PEM)  # fmt: skip
    return pem.decode(), serial


@pytest.mark.exclusive
def test_expired_the_challenge_path_still_answers_and_renewal_succeeds(pebble):
    pem, serial = expired_certificate()
    acme("install-pem", stdin=pem)
    wait_for(lambda: served().serial_number == serial, PICKED_UP, 0.5, "the expired certificate")
    with challenge_file("still-served", with_pebble) as token:
        response = challenge(token)
        assert (response.status_code, response.text) == (200, "still-served")
    # Not forced: an expiring installed certificate is due by itself.
    acme("renew")
    wait_for(issued_by_pebble_for_the_domain, PICKED_UP, 1, "a valid certificate again")
    assert served().not_valid_after_utc > dt.datetime.now(dt.UTC)


@pytest.mark.exclusive
def test_failure_with_the_ca_stopped_the_old_certificate_keeps_serving(pebble):
    root, before = pebble_root(), served()
    with_pebble("stop", "pebble")
    try:
        result = acme("renew", "--force", check=False)
        assert result.returncode == 1
        failures = [entry for entry in acme_log_lines("1m") if entry["outcome"] == "failure"]
        assert failures, "no failure logged"
        line = failures[-1]
        assert line["level"] == "ERROR" and line["event"] == "renewal"
        assert "pebble" in line["message"] and "keeps serving" in line["message"]
        values = acme_metrics(with_pebble)
        assert values["acme_last_attempt_failed"] == 1
        assert values['acme_renewals_total{outcome="failure"}'] >= 1
        # Longer than nginx's check: nothing changed at the edge, and it still serves.
        time.sleep(cert_poll_seconds() + 2)
        assert served().serial_number == before.serial_number
        assert https_status(EDGE, HTTPS_PORT, DOMAIN, root) == 200
    finally:
        with_pebble("start", "pebble")
        with_pebble("up", "-d", "--no-build", "--wait", "--wait-timeout", "120", "pebble")
