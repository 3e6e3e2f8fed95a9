"""Helpers for end-to-end tests: where the stack listens and how to drive it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

ROOT = Path(__file__).resolve().parents[2]
HOST = "localhost"
HTTP_PORT = int(os.environ.get("HTTP_PORT", "8080"))
HTTPS_PORT = int(os.environ.get("HTTPS_PORT", "8443"))
PROMETHEUS_PORT = int(os.environ.get("PROMETHEUS_PORT", "9090"))
BASE = f"https://{HOST}:{HTTPS_PORT}"
HTTP_BASE = f"http://{HOST}:{HTTP_PORT}"
CA_FILE = str(ROOT / os.environ.get("CERT_DIR", "certs") / "fullchain.pem")


def compose(
    *args: str, check: bool = True, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `docker compose` on this project through scripts/compose.sh (the stand-in images of
    images.env, as `make up` sees them), from its root, with this environment plus `env`."""
    return subprocess.run(
        [str(ROOT / "scripts" / "compose.sh"), *args],
        cwd=ROOT,
        check=check,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def image_variables() -> dict[str, str]:
    """images.env, as the Makefile reads it: compose must see the same images as `make up`."""
    path = ROOT / "images.env"
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.startswith("#")}


def docker(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *args], check=check, capture_output=True, text=True, timeout=timeout
    )


# A tiny HTTP server that prints every POST body (gunzipped) as one line on stdout: run in a
# container of the app image, it stands in for Sentry or an alert webhook.
CAPTURE_SERVER = """
import gzip, http.server, sys
class Capture(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        sys.stdout.write("ENVELOPE " + body.decode("utf-8", "replace").replace("\\n", " ") + "\\n")
        sys.stdout.flush()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), Capture).serve_forever()
"""


def container_id(service: str) -> str:
    return compose("ps", "--all", "-q", service).stdout.strip()


def inspect(service: str) -> dict:
    out = subprocess.run(
        ["docker", "inspect", container_id(service)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)[0]


def wait_for(
    condition: Callable[[], bool], timeout: float = 60, interval: float = 0.5, what: str = ""
) -> None:
    """Poll until condition() is true; fail the test with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (requests.RequestException, subprocess.SubprocessError):
            pass
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what or condition.__name__}")


def service_health(service: str) -> str:
    state = inspect(service)["State"]
    return state.get("Health", {}).get("Status", state["Status"])


def wait_healthy(service: str, timeout: float = 120) -> None:
    wait_for(lambda: service_health(service) == "healthy", timeout, 1, f"{service} healthy")


@contextlib.contextmanager
def stopped(service: str) -> Iterator[None]:
    """Stop a service for the block; then start it again and wait until it is healthy."""
    compose("stop", service)
    try:
        yield
    finally:
        compose("start", service)
        wait_healthy(service)


def exit_unless_reachable(how_to_start: str) -> None:
    """End the whole run at once, with a one-line hint, when the stack is not up."""
    hint = f"run {how_to_start} first (or `make test`, which starts it)"
    if not Path(CA_FILE).is_file():
        pytest.exit(f"no stack here: {CA_FILE} does not exist; {hint}", 2)
    try:
        requests.get(f"{BASE}/healthz", verify=CA_FILE, timeout=5)
    except (requests.RequestException, OSError) as error:
        pytest.exit(f"nothing answers at {BASE} ({type(error).__name__}); {hint}", 2)


def new_session(retry_on_429: bool = True) -> requests.Session:
    """A client that trusts the stack's certificate; by default it honours 429 Retry-After
    the way a well-behaved API client does, so tests stay within the edge's rate limit."""
    session = requests.Session()
    # Ignore REQUESTS_CA_BUNDLE and proxy variables: they would override `verify` per request.
    session.trust_env = False
    session.verify = CA_FILE
    if retry_on_429:
        retry = Retry(
            total=8,
            connect=0,
            read=0,
            status=8,
            status_forcelist=[429],
            allowed_methods=None,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


def redis_cli(*args: str) -> str:
    """Run redis-cli inside the redis container, authenticated from the mounted secret."""
    command = 'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" exec redis-cli "$@"'
    return compose("exec", "-T", "redis", "sh", "-c", command, "redis-cli", *args).stdout.strip()


def psql(sql: str, database: str = "app") -> str:
    """Run one SQL statement with psql inside the postgres container; unaligned output."""
    return compose(
        "exec", "-T", "postgres", "psql", "-U", "app", "-d", database, "-At", "-c", sql
    ).stdout.strip()


PROMETHEUS = f"http://127.0.0.1:{PROMETHEUS_PORT}"


def prometheus_query(query: str) -> list[dict]:
    response = requests.get(f"{PROMETHEUS}/api/v1/query", params={"query": query}, timeout=10)
    response.raise_for_status()
    return response.json()["data"]["result"]


def prometheus_scalar(query: str) -> float | None:
    result = prometheus_query(query)
    return float(result[0]["value"][1]) if result else None


def app_log_lines(since: str = "5m") -> list[dict]:
    """The app's JSON log lines."""
    logs = compose("logs", "--no-color", "--no-log-prefix", "--since", since, "app").stdout
    lines = []
    for line in logs.splitlines():
        if "{" in line:
            try:
                lines.append(json.loads(line[line.index("{") :]))
            except json.JSONDecodeError:
                continue
    return lines


_PROCESS_TABLE = """
import os
rows = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            stat = open(f"/proc/{pid}/stat").read()
            cmd = open(f"/proc/{pid}/cmdline").read()
        except OSError:
            continue
        rows.append((pid, stat.rsplit(")", 1)[1].split()[1], cmd.replace(chr(0), " ")))
for row in rows:
    print("|".join(row))
"""


def gunicorn_processes(service: str = "app") -> tuple[int, list[int]]:
    """(master pid, worker pids) of gunicorn inside the container, as the container sees them."""
    out = compose("exec", "-T", service, "python", "-c", _PROCESS_TABLE).stdout
    table = [line.split("|", 2) for line in out.splitlines() if line.count("|") >= 2]
    gunicorn = {
        int(pid): int(ppid)
        for pid, ppid, cmd in table
        if "gunicorn" in cmd and "docker-init" not in cmd
    }
    masters = [pid for pid, ppid in gunicorn.items() if ppid not in gunicorn]
    assert len(masters) == 1, f"expected one gunicorn master, found {masters}"
    master = masters[0]
    return master, sorted(pid for pid, ppid in gunicorn.items() if ppid == master)
