"""Start Pebble or its challenge test server for the ACME tests (tests/acme/compose.pebble.yaml).

pebble          makes Pebble's listener certificate once per volume (/srv/pebble-ca, which the
                `acme` service reads as ACME_CA_BUNDLE), writes its configuration and runs it:
                ACME on 14000, management on 15000 (the issuing root: /roots/0), HTTP-01
                validation on port 8080 (nginx's), names resolved by the challenge test server.
challtestsrv    runs pebble-challtestsrv as the DNS server alone, answering every A query with
                the address of CHALLENGE_TARGET (nginx), followed when nginx is recreated.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CA_DIR = Path("/srv/pebble-ca")


def pebble() -> int:
    cert, key = CA_DIR / "pebble.crt", CA_DIR / "pebble.key"
    if not cert.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
             "-keyout", str(key), "-out", str(cert), "-subj", "/CN=pebble",
             "-addext", "subjectAltName=DNS:pebble,DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True,
        )  # fmt: skip
        cert.chmod(0o644)
    config = Path("/tmp/pebble.json")
    config.write_text(json.dumps({"pebble": {
        "listenAddress": "0.0.0.0:14000",
        "managementListenAddress": "0.0.0.0:15000",
        "certificate": str(cert),
        "privateKey": str(key),
        "httpPort": int(os.environ.get("PEBBLE_HTTP_PORT", "8080")),
        "tlsPort": 5001,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
    }}))  # fmt: skip
    dns = os.environ.get("PEBBLE_DNS_SERVER", "challtestsrv:8053")
    os.execvp("pebble", ["pebble", "-config", str(config), "-dnsserver", dns])
    return 1


def address(name: str) -> str | None:
    try:
        return socket.gethostbyname(name)
    except OSError:
        return None


def challtestsrv() -> int:
    target = os.environ.get("CHALLENGE_TARGET", "nginx")
    server = subprocess.Popen(
        ["pebble-challtestsrv", "-defaultIPv6", "", "-defaultIPv4", address(target) or "127.0.0.1",
         "-dns01", ":8053", "-http01", "", "-https01", "", "-tlsalpn01", "",
         "-management", ":8055"],
    )  # fmt: skip
    pointed = None
    while server.poll() is None:
        current = address(target)
        if current and current != pointed:
            request = urllib.request.Request(
                "http://127.0.0.1:8055/set-default-ipv4",
                data=json.dumps({"ip": current}).encode(), method="POST",
            )  # fmt: skip
            try:
                urllib.request.urlopen(request, timeout=2).close()
                pointed = current
            except OSError:
                pass
        time.sleep(1)
    return server.returncode


if __name__ == "__main__":
    sys.exit({"pebble": pebble, "challtestsrv": challtestsrv}[sys.argv[1]]())
