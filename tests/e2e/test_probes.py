"""The blackbox exporter probes the public edge as a client does (blackbox/, job `blackbox`):
every probe succeeds on the running stack, and the certificate expiry it reports is the served
certificate's. The probes failing while nginx is stopped is in test_outages.py."""

from __future__ import annotations

import ssl
import subprocess
from datetime import datetime

from tests.support.contract import handshake, tls_client
from tests.support.prometheus import query, scalar
from tests.support.stack import wait_for

PROBES = {"https", "http2", "redirect"}


def probe_results() -> dict[str, float]:
    """Each probe's last result, by its `probe` label."""
    return {
        s["metric"]["probe"]: float(s["value"][1]) for s in query('probe_success{job="blackbox"}')
    }


def all_probes_succeed() -> bool:
    return probe_results() == dict.fromkeys(PROBES, 1.0)


def test_every_probe_succeeds():
    # A first scrape after a (re)start may come before nginx is up: wait for a success.
    wait_for(all_probes_succeed, 90, 2, "every probe of the edge to succeed")
    # HTTP/2 was negotiated, not just tolerated, and the redirect answered without TLS.
    assert scalar('probe_http_version{probe="http2"}') == 2.0
    assert scalar('probe_http_ssl{probe="redirect"}') == 0.0
    assert scalar('probe_http_status_code{probe="redirect"}') in {301.0, 308.0}


def served_certificate_not_after() -> int:
    """notAfter of the certificate the edge serves, as `openssl x509 -enddate` reads it."""
    with handshake(tls_client()) as sock:
        der = sock.getpeercert(binary_form=True)
    assert der
    out = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-noout", "-enddate"],
        input=der, capture_output=True, check=True, timeout=10,
    ).stdout.decode()  # fmt: skip
    assert out.startswith("notAfter="), out
    return int(ssl.cert_time_to_seconds(out.removeprefix("notAfter=").strip()))


def test_the_probed_certificate_expiry_is_the_served_certificates_not_after():
    wait_for(all_probes_succeed, 90, 2, "every probe of the edge to succeed")
    probed = scalar('probe_ssl_earliest_cert_expiry{probe="https"}')
    assert probed is not None, "no probe_ssl_earliest_cert_expiry"
    served = served_certificate_not_after()
    assert int(probed) == served, (
        f"the probe reports {datetime.fromtimestamp(probed)}, the edge serves a certificate "
        f"valid until {datetime.fromtimestamp(served)}"
    )
