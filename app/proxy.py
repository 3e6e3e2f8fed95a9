"""Who may send the app requests, and whose X-Forwarded-* headers count.

The edge (nginx) is the app's only client. With TRUSTED_PROXIES set (Compose sets ``nginx``), a
request from any other peer on the app's networks gets 403 before Flask sees it, and
forwarded headers (ProxyFix) are applied only to requests that come from one of those proxies:
no other container can forge a client address or a host. Loopback callers (the container's
own healthcheck) are served as they are, with no forwarded headers. Without TRUSTED_PROXIES
(Kubernetes, where NetworkPolicies decide who reaches a pod) every peer is trusted.

Names are resolved again at most every REFRESH_SECONDS, and at once (at most once a second)
when an unknown peer calls, so a recreated nginx with a new address is followed.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

log = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0
RETRY_SECONDS = 1.0
FORBIDDEN_BODY = json.dumps(
    {"error": {"code": "forbidden", "message": "Requests reach the app through the edge only."}}
).encode()

WSGIApp = Callable[..., Iterable[bytes]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=1024)
def parse_address(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address, parsed once per distinct peer (the app's peers are a handful of proxies;
    parsing cost two ip_address calls per request before), or None when it is not one."""
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def is_loopback(address: str) -> bool:
    ip = parse_address(address)
    return ip is not None and ip.is_loopback


class TrustedProxies:
    """Addresses of the trusted proxies: networks as written, host names as resolved."""

    def __init__(
        self, entries: Iterable[str], resolve: Callable[[str], set[str]] | None = None
    ) -> None:
        self._networks: list[Network] = []
        self._names: list[str] = []
        for entry in entries:
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._names.append(entry)
        self._resolve = resolve or resolve_name
        self._addresses: set[str] = set()
        self._resolved_at = float("-inf")
        self._lock = threading.Lock()

    def __contains__(self, address: str) -> bool:
        if self._in_networks(address):
            return True
        if not self._names:
            return False
        now = time.monotonic()
        age = now - self._resolved_at
        if age >= REFRESH_SECONDS or (address not in self._addresses and age >= RETRY_SECONDS):
            self._refresh(now)
        return address in self._addresses

    def _in_networks(self, address: str) -> bool:
        ip = parse_address(address)
        return ip is not None and any(ip in network for network in self._networks)

    def _refresh(self, now: float) -> None:
        with self._lock:
            if now - self._resolved_at < RETRY_SECONDS:
                return  # another thread has just done it
            found: set[str] = set()
            for name in self._names:
                found |= self._resolve(name)
            # A failed look-up keeps the last good answer: DNS trouble must not refuse nginx.
            if found or not self._addresses:
                self._addresses = found
            self._resolved_at = now


def resolve_name(name: str) -> set[str]:
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except OSError:
        log.warning("could not resolve a trusted proxy", extra={"proxy": name})
        return set()
    return {str(info[4][0]) for info in infos}


class ProxyGate:
    """WSGI middleware: refuse untrusted peers, apply ProxyFix to trusted ones."""

    def __init__(self, app: WSGIApp, trusted: TrustedProxies | None, **proxy_fix: int) -> None:
        self.app = app
        self.proxied = ProxyFix(app, **proxy_fix)
        self.trusted = trusted

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.trusted is None:
            return self.proxied(environ, start_response)
        peer = environ.get("REMOTE_ADDR", "")
        if is_loopback(peer):
            return self.app(environ, start_response)
        if peer in self.trusted:
            return self.proxied(environ, start_response)
        log.warning(
            "refused a request from a peer that is not a trusted proxy",
            extra={"remote_addr": peer, "path": environ.get("PATH_INFO")},
        )
        start_response(
            "403 Forbidden",
            [("Content-Type", "application/json"), ("Content-Length", str(len(FORBIDDEN_BODY)))],
        )
        return [FORBIDDEN_BODY]
