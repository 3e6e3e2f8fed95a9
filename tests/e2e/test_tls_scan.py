"""Two outside scanners, testssl.sh and sslscan (Debian packages), against the running edge: the
TLS configuration is nothing below Mozilla's intermediate profile."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from tests.support import images
from tests.support.edge import CA_FILE
from tests.support.settings import HTTPS_PORT
from tests.support.stack import docker

TARGET = f"localhost:{HTTPS_PORT}"  # a name, so the scanners send SNI as browsers do

# Mozilla's intermediate profile (ssl-config.mozilla.org, version 5.7), OpenSSL names.
MOZILLA_INTERMEDIATE_CIPHERS = {
    "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305",
}  # fmt: skip
MOZILLA_INTERMEDIATE_GROUPS = {"x25519", "secp256r1", "secp384r1"}

# testssl.sh findings of MEDIUM or worse that are not below the profile, each with its reason.
ACCEPTED = {
    "cipher_order": "Mozilla's intermediate profile leaves the choice of cipher to the client "
    "(ssl_prefer_server_ciphers off): every cipher offered is strong",
    "cert_revocation": "the local self-signed certificate names no CRL or OCSP responder (nor "
    "do Let's Encrypt's since 2025)",
    "BREACH": "compressed responses carry no secret (no session cookie, no CSRF token), so "
    "there is nothing for BREACH to recover",
}


def test_sslscan_finds_only_tls_1_2_and_1_3_with_the_profiles_ciphers_and_groups():
    out = docker("run", "--rm", "--network", "host", images.tls_scanners(), "sslscan", "--xml=-",
                 "--no-colour", TARGET, timeout=120).stdout  # fmt: skip
    test = ET.fromstring(out).find("ssltest")
    assert test is not None, out
    enabled = {
        f"{p.get('type')}{p.get('version')}"
        for p in test.iter("protocol")
        if p.get("enabled") == "1"
    }
    assert enabled == {"tls1.2", "tls1.3"}
    ciphers = {c.get("cipher") for c in test.iter("cipher")}
    assert ciphers and ciphers <= MOZILLA_INTERMEDIATE_CIPHERS, (
        ciphers - MOZILLA_INTERMEDIATE_CIPHERS
    )
    groups = {g.get("name", "").split()[0] for g in test.iter("group")}
    assert groups and groups <= MOZILLA_INTERMEDIATE_GROUPS, groups
    assert all(h.get("vulnerable") == "0" for h in test.iter("heartbleed"))
    renegotiation = test.find("renegotiation")
    assert (
        renegotiation is None
        or renegotiation.get("supported") == "0"
        or (renegotiation.get("secure") == "1")
    )
    key = test.find("certificates/certificate/pk")
    assert key is not None and int(key.get("bits", 0)) >= 2048


def test_testssl_finds_nothing_below_the_profile(tmp_path):
    tmp_path.chmod(0o777)
    docker(
        "run", "--rm", "--network", "host", "-v", f"{tmp_path}:/out",
        "-v", f"{CA_FILE}:/ca.pem:ro", images.tls_scanners(),
        "testssl", "--quiet", "--color", "0", "--warnings", "off", "--add-ca", "/ca.pem",
        "--jsonfile", "/out/testssl.json", "--protocols", "--server-preference",
        "--server-defaults", "--vulnerable", "--headers", "--ip", "one", TARGET,
        check=False, timeout=600,
    )  # fmt: skip
    findings = json.loads((tmp_path / "testssl.json").read_text())
    assert len(findings) > 50, "testssl.sh ran too few checks to prove anything"
    severe = {
        f["id"]: f["finding"]
        for f in findings
        if f["severity"] in {"MEDIUM", "HIGH", "CRITICAL"} and f["id"] not in ACCEPTED
    }
    assert not severe, severe
    by_id = {f["id"]: f for f in findings}
    assert by_id["cert_chain_of_trust"]["severity"] == "OK", by_id["cert_chain_of_trust"]
    for protocol in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert "not offered" in by_id[protocol]["finding"], by_id[protocol]
