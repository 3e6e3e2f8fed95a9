"""What a certificate file holds (its serial, expiry, names and issuer), and which CA certbot's
lineage came from."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from .settings import LINEAGE, Settings


@dataclass(frozen=True)
class CertInfo:
    serial: str
    not_after: float
    names: tuple[str, ...]
    issuer: str

    def days_left(self, now: float) -> float:
        return (self.not_after - now) / 86400


def cert_info(path: Path) -> CertInfo | None:
    """The leaf (first) certificate of a PEM file; None when there is no readable one."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(sorted(n.lower() for n in san.get_values_for_type(x509.DNSName)))
    except x509.ExtensionNotFound:
        names = ()
    return CertInfo(
        serial=format(cert.serial_number, "x"),
        not_after=cert.not_valid_after_utc.timestamp(),
        names=names,
        issuer=cert.issuer.rfc4514_string(),
    )


def lineage_server(settings: Settings) -> str | None:
    """The ACME directory certbot's renewal configuration says the lineage came from."""
    conf = settings.config_dir / "renewal" / f"{LINEAGE}.conf"
    with contextlib.suppress(OSError):
        for line in conf.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "server":
                return value.strip()
    return None
