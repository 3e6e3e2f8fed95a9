"""python -m acmeloop [run | renew [--force] | install-pem | health]

run          the service: a cycle now, then one every ACME_CHECK_INTERVAL seconds (every
             ACME_RETRY_INTERVAL after a failure), with the metrics on ACME_METRICS_PORT
renew        one cycle now; --force renews even if the certificate is not due
             (`make renew-cert` runs `renew --force` in the running container)
install-pem  install a private key and its certificate chain given as one PEM on stdin, as if
             issued (the tests install an expired certificate this way); the next renewal
             replaces it
health       the container's healthcheck: the metrics endpoint answers
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
import urllib.request

from . import core
from .metrics import serve


def _settings() -> core.Settings:
    try:
        return core.Settings.from_environ(os.environ)
    except core.SettingsError as error:
        core.log("settings", "failure", f"The certificate client cannot start: {error}.")
        raise SystemExit(2) from None


def run() -> int:
    settings = _settings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serve(settings)
    if settings.enabled:
        core.log(
            "start",
            "configured",
            f"Keeping a certificate for {', '.join(settings.domains)} from "
            f"{settings.server}; checking every {settings.check_interval:.0f} s.",
            domains=list(settings.domains),
            server=settings.server,
        )
    else:
        core.log(
            "start",
            "disabled",
            "SERVER_NAME (a public domain) and ACME_EMAIL are not "
            "both set: no ACME certificate; nginx serves its default certificate.",
        )
    failures = 0
    while not stop.is_set():
        try:
            ok = core.cycle(settings)
        except Exception as error:  # a bug or a full disk must not end the renewals for good
            core.log(
                "renewal",
                "failure",
                f"The certificate cycle failed unexpectedly: {type(error).__name__}: {error}.",
            )
            ok = False
        failures = 0 if ok else failures + 1
        stop.wait(core.next_attempt_in(settings, failures))
    return 0


def renew(force: bool) -> int:
    settings = _settings()
    if not settings.enabled:
        core.log(
            "renewal",
            "failure",
            "Nothing to renew: set SERVER_NAME to a public domain and ACME_EMAIL first.",
        )
        return 1
    return 0 if core.cycle(settings, force=force) else 1


def install_pem() -> int:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        load_pem_private_key,
    )

    settings = _settings()
    data = sys.stdin.buffer.read()
    block = re.search(
        rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", data, re.DOTALL
    )
    if block is None:
        core.log("install", "failure", "No private key on stdin: give the key and its chain.")
        return 1
    key = load_pem_private_key(block.group(0), password=None)
    certs = x509.load_pem_x509_certificates(data)
    chain = b"".join(c.public_bytes(Encoding.PEM) for c in certs)
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    with core.locked(settings):
        core.install(settings, chain, private)
    info = core.cert_info(core.installed_fullchain(settings))
    core.log(
        "install",
        "installed",
        f"A certificate given on stdin was installed (serial "
        f"{info.serial if info else '?'}); the next renewal replaces it.",
    )
    return 0


def health() -> int:
    port = os.environ.get("ACME_METRICS_PORT", "9100")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m acmeloop",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run")
    renew_parser = commands.add_parser("renew")
    renew_parser.add_argument("--force", action="store_true")
    commands.add_parser("install-pem")
    commands.add_parser("health")
    args = parser.parse_args(argv)
    if args.command == "renew":
        return renew(args.force)
    if args.command == "install-pem":
        return install_pem()
    if args.command == "health":
        return health()
    return run()


if __name__ == "__main__":
    sys.exit(main())
