"""python -m acmeloop [run | renew [--force] | install-pem | health]

run          the service: a cycle now, then one every ACME_CHECK_INTERVAL seconds (every
             ACME_RETRY_INTERVAL after a failure), with the metrics on ACME_METRICS_PORT
renew        one cycle now; --force renews even if the certificate is not due
             (`make renew-cert` runs `renew --force` in the running container). The
             service's own process runs it, so its log lines are in the container's log;
             this command waits for the outcome, prints it and exits 1 on failure
install-pem  install a private key and its certificate chain given as one PEM on stdin, as if
             issued (the tests install an expired certificate this way); the next renewal
             replaces it
health       the container's healthcheck: the metrics endpoint answers
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.request

from pyservice.logs import service_logger

from . import core
from .metrics import serve


def _settings() -> core.Settings:
    try:
        return core.Settings.from_environ(os.environ)
    except core.SettingsError as error:
        core.log("settings", "failure", f"The certificate client cannot start: {error}.")
        raise SystemExit(2) from None


class Wakeup:
    """What the service loop waits on: its next cycle, a renewal requested by `renew`
    (SIGUSR1), or the end (SIGTERM)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.stopping = False

    def stop(self, *_: object) -> None:
        self.stopping = True
        self.event.set()

    def wait(self, seconds: float) -> None:
        self.event.wait(seconds)
        self.event.clear()


def run() -> int:
    settings = _settings()
    wakeup = Wakeup()
    signal.signal(signal.SIGTERM, wakeup.stop)
    signal.signal(signal.SIGINT, wakeup.stop)
    signal.signal(signal.SIGUSR1, lambda *_: wakeup.event.set())
    serve(settings)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    core.pid_file(settings).write_text(str(os.getpid()))
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
    next_cycle = 0.0
    while not wakeup.stopping:
        request = core.take_request(settings)
        if request is not None or time.monotonic() >= next_cycle:
            ok = _cycle(settings, force=bool(request and request.get("force")))
            if request is not None:
                core.answer_request(settings, request, ok, core.last_record)
            failures = 0 if ok else failures + 1
            next_cycle = time.monotonic() + core.next_attempt_in(settings, failures)
        wakeup.wait(max(0.0, next_cycle - time.monotonic()))
    return 0


def _cycle(settings: core.Settings, force: bool = False) -> bool:
    try:
        return core.cycle(settings, force=force)
    except Exception as error:  # a bug or a full disk must not end the renewals for good
        core.log(
            "renewal",
            "failure",
            f"The certificate cycle failed unexpectedly: {type(error).__name__}: {error}.",
        )
        return False


def renew(force: bool, timeout: float = 900) -> int:
    settings = _settings()
    if not settings.enabled:
        core.log(
            "renewal",
            "failure",
            "Nothing to renew: set SERVER_NAME to a public domain and ACME_EMAIL first.",
        )
        return 1
    pid = core.service_pid(settings)
    if pid is None:
        # No service running (`docker compose run`): do it here.
        return 0 if _cycle(settings, force=force) else 1
    request = core.make_request(settings, force)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = core.read_answer(settings, request)
        if answer is not None:
            print(json.dumps(answer.get("record") or {}), flush=True)
            return 0 if answer.get("ok") else 1
        time.sleep(0.2)
    print(f"The acme service did not answer within {timeout:.0f} s.", file=sys.stderr)
    return 1


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
    service_logger(core.LOGGER.name)
    if args.command == "renew":
        return renew(args.force)
    if args.command == "install-pem":
        return install_pem()
    if args.command == "health":
        return health()
    return run()


if __name__ == "__main__":
    sys.exit(main())
