"""The service's settings, from its environment (compose.yaml sets them; .env.example lists
them with their defaults), read as every Python service of the stack reads them
(pyservice/settings.py)."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pyservice.settings import Env, SettingsError

__all__ = ["LETS_ENCRYPT", "LETS_ENCRYPT_STAGING", "LINEAGE", "Settings", "SettingsError"]

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
# certbot's name for the one certificate this stack keeps, whatever its domains.
LINEAGE = "edge"


def issuable(name: str) -> bool:
    """Whether an ACME CA can issue for NAME over HTTP-01: not localhost, not an address, not a
    wildcard or an nginx regex or catch-all name."""
    if not name or name == "_" or name.startswith("~") or "*" in name:
        return False
    lowered = name.lower().rstrip(".")
    if lowered == "localhost" or lowered.endswith(".localhost"):
        return False
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(lowered.strip("[]"))
        return False
    return True


@dataclass(frozen=True)
class Settings:
    domains: tuple[str, ...]
    email: str
    server: str
    ca_bundle: str
    renew_before_days: float
    check_interval: float
    retry_interval: float
    key_type: str
    state_dir: Path
    webroot: Path
    install_dir: Path
    metrics_port: int

    @property
    def enabled(self) -> bool:
        """Both a domain and a contact address: otherwise the self-signed certificate stays."""
        return bool(self.domains and self.email)

    @property
    def config_dir(self) -> Path:
        return self.state_dir / "certbot"

    @property
    def status_file(self) -> Path:
        return self.state_dir / "status.json"

    @property
    def lineage_fullchain(self) -> Path:
        return self.config_dir / "live" / LINEAGE / "fullchain.pem"

    @property
    def lineage_privkey(self) -> Path:
        return self.config_dir / "live" / LINEAGE / "privkey.pem"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        env = Env(environ)
        domains = tuple(
            dict.fromkeys(n.lower() for n in env.str("SERVER_NAME", "").split() if issuable(n))
        )
        staging = env.bool("ACME_STAGING", False)
        server = env.str("ACME_SERVER", LETS_ENCRYPT_STAGING if staging else LETS_ENCRYPT)
        key_type = env.str("ACME_KEY_TYPE", "ecdsa")
        if key_type not in {"ecdsa", "rsa"}:
            raise SettingsError(f"ACME_KEY_TYPE must be ecdsa or rsa, got {key_type!r}")
        return cls(
            domains=domains,
            email=env.str("ACME_EMAIL", ""),
            server=server,
            ca_bundle=env.str("ACME_CA_BUNDLE", ""),
            renew_before_days=_positive(env, "ACME_RENEW_BEFORE_DAYS", 30),
            check_interval=_positive(env, "ACME_CHECK_INTERVAL", 43200),
            retry_interval=_positive(env, "ACME_RETRY_INTERVAL", 3600),
            key_type=key_type,
            state_dir=Path(env.str("ACME_STATE_DIR", "/srv/acme/state")),
            webroot=Path(env.str("ACME_WEBROOT_DIR", "/srv/acme/webroot")),
            install_dir=Path(env.str("ACME_INSTALL_DIR", "/srv/acme/tls")),
            metrics_port=env.int("ACME_METRICS_PORT", 9100, minimum=1, maximum=65535),
        )


def _positive(env: Env, name: str, default: float) -> float:
    """A number of seconds or days greater than 0."""
    return env.float(name, default, 0.0, exclusive_minimum=True)
