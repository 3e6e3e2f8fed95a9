"""What a bench run records about the stack besides the load figures: the machine's Docker,
each service's memory, the image sizes, what the logs say, the last startup measurement."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bench.command import ROOT, run
from bench.target import Stack


def docker_version() -> str:
    return run(["docker", "version", "--format", "{{.Server.Version}}"]).stdout.strip()


MEM_UNITS = {
    "B": 1 / 2**20,
    "KiB": 1 / 1024,
    "MiB": 1.0,
    "GiB": 1024.0,
    "kB": 1e3 / 2**20,
    "MB": 1e6 / 2**20,
    "GB": 1e9 / 2**20,
}


def parse_mib(text: str) -> float:
    match = re.match(r"\s*([\d.]+)\s*([A-Za-z]+)", text)
    if not match or match.group(2) not in MEM_UNITS:
        return float("nan")
    return round(float(match.group(1)) * MEM_UNITS[match.group(2)], 1)


def memory(project: str) -> dict[str, dict[str, float]]:
    ids = run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"]
    ).stdout.split()
    if not ids:
        return {}
    out = run(["docker", "stats", "--no-stream", "--format", "{{json .}}", *ids], timeout=60)
    figures = {}
    for line in out.stdout.splitlines():
        row = json.loads(line)
        used, _, limit = row["MemUsage"].partition("/")
        service = row["Name"].removeprefix(f"{project}-").rsplit("-", 1)[0]
        figures[service] = {"mib": parse_mib(used), "limit_mib": parse_mib(limit)}
    return dict(sorted(figures.items()))


def image_sizes(project: str) -> dict[str, float]:
    sizes = {}
    for name in ("app", "nginx"):
        out = run(
            ["docker", "image", "inspect", "--format", "{{.Size}}", f"{project}/{name}:local"],
            check=False,
        )
        if out.returncode == 0:
            sizes[name] = round(int(out.stdout.strip()) / 1e6, 1)  # MB, as `docker images`
    return sizes


def log_findings(stack: Stack, since: str) -> dict[str, Any]:
    """What the logs say about the run: nginx non-2xx and error lines, gunicorn worker restarts."""
    services = stack.services()
    findings: dict[str, Any] = {}
    if "nginx" in services:
        out = run(
            ["docker", "logs", "--since", since, services["nginx"]["ID"]], check=False, timeout=120
        )
        statuses: dict[str, int] = {}
        errors: dict[str, int] = {}
        for line in (out.stdout + out.stderr).splitlines():
            if line.startswith("{"):
                match = re.search(r'"status":(\d+)', line)
                if match and not match.group(1).startswith("2"):
                    statuses[match.group(1)] = statuses.get(match.group(1), 0) + 1
            elif "[error]" in line or "[crit]" in line or "[alert]" in line:
                message = re.sub(r"^.*?\*\d+ ", "", line)
                message = re.sub(r", client:.*$", "", message)
                errors[message] = errors.get(message, 0) + 1
        findings["nginx_non_2xx"] = dict(sorted(statuses.items()))
        findings["nginx_errors"] = dict(sorted(errors.items(), key=lambda kv: -kv[1])[:10])
    if "app" in services:
        out = run(
            ["docker", "logs", "--since", since, services["app"]["ID"]], check=False, timeout=120
        )
        text = out.stdout + out.stderr
        findings["gunicorn_worker_restarts"] = text.count("Booting worker with pid")
        findings["gunicorn_worker_timeouts"] = text.count("WORKER TIMEOUT")
    return findings


def latest_startup(results_dir: Path, project: str) -> dict[str, Any] | None:
    for path in sorted(results_dir.glob("startup-*.json"), reverse=True):
        data = json.loads(path.read_text())
        if data.get("project") == project:
            data["file"] = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
            return data
    return None
