"""The running Compose project a bench run measures: its services, its edge, HTTP to it."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request
from typing import Any

from bench.command import ROOT, BenchError, run
from tests.support import settings  # the stack as Compose resolves it
from tests.support.stack import compose


class Stack:
    """The running Compose project this run measures."""

    def __init__(self) -> None:
        self.project = settings.PROJECT
        self.https_port = settings.HTTPS_PORT
        bind = settings.BIND_ADDRESS
        if bind not in {"127.0.0.1", "0.0.0.0"}:
            raise BenchError(f"BIND_ADDRESS is {bind}: the bench only loads 127.0.0.1")
        # A host name, so TLS carries it (SNI): nginx refuses handshakes that name no host.
        self.base = f"https://localhost:{self.https_port}"
        self.tls = ssl.create_default_context()
        self.tls.check_hostname = False  # the stack's self-signed certificate
        self.tls.verify_mode = ssl.CERT_NONE

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        result = compose(*args, check=False, timeout=timeout)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise BenchError(f"docker compose {' '.join(args)} failed: " + " / ".join(detail))
        return result

    def services(self) -> dict[str, dict[str, Any]]:
        out = self.compose("ps", "--format", "json").stdout.strip()
        if not out:
            return {}
        if out.startswith("["):  # older Compose: one JSON array
            rows = json.loads(out)
        else:  # newer Compose: one object per line
            rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        return {row["Service"]: row for row in rows}

    def container_ids(self) -> dict[str, str]:
        """The full id of each running service's container (one per service here)."""
        ids = {name: row["ID"] for name, row in self.services().items()}
        if not ids:
            return {}
        out = run(["docker", "inspect", "--format", "{{.Id}}", *ids.values()]).stdout.split()
        return {name: full for name, full in zip(ids, out, strict=True)}

    def check_running(self) -> dict[str, dict[str, Any]]:
        services = self.services()
        missing = [name for name in ("nginx", "app") if name not in services]
        if missing:
            raise BenchError(
                f"project {self.project!r} has no running {', '.join(missing)}: "
                "start it first with `make up` (same COMPOSE_PROJECT_NAME and ports)"
            )
        for name in ("nginx", "app"):
            health = services[name].get("Health") or ""
            if services[name].get("State") != "running" or health not in {"healthy", ""}:
                raise BenchError(f"{name} is {services[name].get('State')}/{health}: not healthy")
        return services

    def beside_nginx(self) -> str:
        """A Docker network mode that puts the load generator in nginx's network namespace:
        it reaches the app as nginx does, from the one peer the app serves (app/proxy.py)."""
        nginx = self.compose("ps", "-q", "nginx").stdout.strip()
        if not nginx:
            raise BenchError("nginx is not running")
        return f"container:{nginx}"

    def edge_limits(self, *args: str) -> None:
        """Raise the edge's rate limits for the run, or restore them (scripts/edge-limits.sh)."""
        run([str(ROOT / "scripts" / "edge-limits.sh"), *args], timeout=180)

    def http(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, context=self.tls, timeout=10) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw

    def app_settings(self, services: dict[str, dict[str, Any]]) -> dict[str, str]:
        env = json.loads(
            run(
                ["docker", "inspect", "--format", "{{json .Config.Env}}", services["app"]["ID"]]
            ).stdout
        )
        wanted = ("GUNICORN_", "DB_POOL", "DB_MAX_OVERFLOW")
        settings = {}
        for pair in env:
            key, _, value = pair.partition("=")
            if key.startswith(wanted):
                settings[key] = value
        return dict(sorted(settings.items()))
