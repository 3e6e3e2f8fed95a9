"""The blackbox exporter probes the public edge as a client does (blackbox/, job `blackbox`):
every probe succeeds on the running stack, the certificate expiry it reports is the served
certificate's, and the probe fails, with its alert pending, when the edge is down."""

from __future__ import annotations

import ssl
import subprocess
import time
from datetime import datetime

from tests.support.contract import handshake, tls_client
from tests.support.prometheus import query, scalar
from tests.support.stack import stopped, wait_for

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


def edge_down_alert_state() -> set[str]:
    return {s["metric"]["alertstate"] for s in query('ALERTS{alertname="EdgeDownFromOutside"}')}


def test_the_probes_fail_and_the_down_alert_is_pending_while_nginx_is_stopped():
    wait_for(all_probes_succeed, 90, 2, "every probe of the edge to succeed")
    # An earlier test may have stopped nginx: its pending alert clears at the next evaluation.
    wait_for(lambda: not edge_down_alert_state(), 60, 2, "no EdgeDownFromOutside before the stop")
    stopped_at = time.time()
    with stopped("nginx"):

        def failed_since_stop() -> bool:
            fresh = query(
                f'probe_success{{job="blackbox"}} and timestamp(probe_success) > {stopped_at}'
            )
            return {s["metric"]["probe"]: s["value"][1] for s in fresh} == dict.fromkeys(
                PROBES, "0"
            )

        wait_for(failed_since_stop, 60, 2, "every probe to fail")
        # Its `for:` (2m) keeps it pending here; tests/e2e/test_observability.py delivers a
        # copy of it with a short `for:` to a webhook receiver.
        wait_for(lambda: "pending" in edge_down_alert_state(), 60, 2, "EdgeDownFromOutside")
    # `stopped` waited for nginx to be healthy: the probes see it again.
    wait_for(all_probes_succeed, 90, 2, "every probe to succeed again after nginx is back")
