"""Queries against the stack's Prometheus: published on loopback over plain HTTP (Compose's
default), published beyond loopback with TLS and a password (prometheus/run.sh), or not
published at all (Swarm), where the queries run inside its container."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
from typing import Any

import requests

from .settings import PROMETHEUS_PORT, SECRETS_DIR, secret


class Client:
    def __init__(self, tls: bool = False) -> None:
        self.session = requests.Session()
        # Per request: a session's `verify` loses to REQUESTS_CA_BUNDLE in the environment.
        self.verify: bool | str = True
        if tls:
            # As a client from outside must: the certificate (issued to localhost) checked,
            # and the password from secrets/.
            self.base = f"https://localhost:{PROMETHEUS_PORT}"
            self.verify = str(SECRETS_DIR / "prometheus_tls.crt")
            self.session.auth = ("prometheus", secret("prometheus_password"))
        else:
            self.base = f"http://127.0.0.1:{PROMETHEUS_PORT}"

    def get(self, path: str, **params: str) -> Any:
        """The `data` of a Prometheus API answer."""
        response = self.session.get(
            f"{self.base}{path}", params=params, verify=self.verify, timeout=10
        )
        response.raise_for_status()
        return response.json()["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/api/v1/query", query=promql)["result"]
        return result


class InSwarmTask(Client):
    """Prometheus asked from inside its Swarm task (busybox wget), where it is unpublished."""

    def __init__(self, service: str) -> None:
        self.service = service

    def get(self, path: str, **params: str) -> Any:
        label = f"label=com.docker.swarm.service.name={self.service}"
        ps = subprocess.run(["docker", "ps", "-q", "--filter", label],
                            capture_output=True, text=True, timeout=20, check=True)  # fmt: skip
        tasks = ps.stdout.split()
        if not tasks:
            raise RuntimeError(f"no running task of {self.service}")
        url = f"http://127.0.0.1:9090{path}?{urllib.parse.urlencode(params)}"
        out = subprocess.run(["docker", "exec", tasks[0], "wget", "-q", "-O", "-", url],
                             capture_output=True, text=True, timeout=20, check=True)  # fmt: skip
        return json.loads(out.stdout)["data"]


_client: Client = Client()


def use(client: Client) -> None:
    """Send this module's queries through CLIENT from now on."""
    global _client
    _client = client


def get(path: str, **params: str) -> Any:
    return _client.get(path, **params)


def query(promql: str) -> list[dict[str, Any]]:
    return _client.query(promql)


def scalar(promql: str) -> float | None:
    result = query(promql)
    return float(result[0]["value"][1]) if result else None
