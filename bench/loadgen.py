"""The load generators, wrk and h2load, each run in a container of the bench image
(bench/Dockerfile) beside the stack: on the host's network, or in nginx's network namespace
to reach the app directly."""

from __future__ import annotations

import json
import os
import re
import subprocess
from typing import Any

from bench import cpu, latency
from bench.command import BenchError, run
from bench.target import Stack

# Every container the bench starts carries it, so that one left behind is found again.
LABEL = "flask-stack.bench"


class LoadGenerator:
    """A tool of the bench image, run once per scenario in a container of its own."""

    def __init__(self, image: str, stack: Stack) -> None:
        self.image, self.stack = image, stack

    def container(
        self, prefix: str, where: str, args: list[str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """`docker run --rm ARGS` (the image and the tool's arguments) from WHERE: `host`, or
        beside nginx; the container is removed should the run time out."""
        name = f"{self.stack.project}-{prefix}-{os.getpid()}"
        # nginx is recreated for the run (its limits raised): look its namespace up each time.
        network = "host" if where == "host" else self.stack.beside_nginx()
        cmd = ["docker", "run", "--rm", "--name", name, "--network", network,
               "--label", f"{LABEL}={self.stack.project}", *args]  # fmt: skip
        try:
            return run(cmd, timeout=timeout, check=False)
        except BenchError:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=30)
            raise


class Wrk(LoadGenerator):
    """wrk (bench/wrk/bench.lua): keep-alive load at saturation, the scenarios' figures."""

    def __init__(
        self,
        image: str,
        stack: Stack,
        threads: int,
        connections: int,
        timeout_s: int,
        close: bool = False,
    ) -> None:
        super().__init__(image, stack)
        self.threads, self.connections, self.timeout_s = threads, connections, timeout_s
        # Connection: close on every request (BENCH_CONNECTION_CLOSE): what a new connection
        # per request costs, against the default keep-alive.
        self.close = close

    def measure(self, key: str, where: str, url: str, seconds: int, post: bool) -> dict[str, Any]:
        """A measured run: wrk's figures, and the CPU per request of each container and of the
        rest of the machine over the run (bench/cpu.py; the window includes starting wrk's
        container, which counts outside the stack)."""
        containers = self.stack.container_ids()
        first = cpu.Sample(containers)
        raw = self.run(key, where, url, seconds, post)
        row = latency.wrk_summary(raw)
        row["cpu_us_per_request"] = cpu.between(first, cpu.Sample(containers), raw["requests"])
        return row

    def run(self, key: str, where: str, url: str, seconds: int, post: bool) -> dict[str, Any]:
        cmd = [
            self.image,
            f"-t{min(self.threads, self.connections)}",
            f"-c{self.connections}",
            f"-d{seconds}s",
            f"--timeout={self.timeout_s}s",
            "--latency",
            "-s",
            "/bench/bench.lua",
            url,
        ]
        args = (["post"] if post else []) + (["close"] if self.close else [])
        if args:
            cmd += ["--", *args]
        result = self.container(f"bench-{key}", where, cmd, timeout=seconds + 60)
        match = re.search(r"^BENCH_JSON (\{.*\})$", result.stdout, re.M)
        if result.returncode != 0 or not match:
            tail = (result.stderr or result.stdout).strip()[-400:]
            raise BenchError(f"wrk failed for {key} ({result.returncode}): {tail}")
        return json.loads(match.group(1))


class H2load(LoadGenerator):
    """h2load (nghttp2-client, in the bench image): a constant rate (--rps, per client) over
    HTTP/1.1, and HTTP/2 with multiplexed streams. Latency percentiles come from its
    per-request log (--log-file), which bench/latency.py parses: h2load itself prints only
    min, max, mean and sd."""

    def run(
        self,
        key: str,
        where: str,
        url: str,
        seconds: int,
        *,
        clients: int,
        rps: float | None = None,
        streams: int = 1,
        http1: bool = True,
        post: bool = False,
        requests: int | None = None,
    ) -> dict[str, Any]:
        """SECONDS of load, or, given REQUESTS, that many requests spread over the clients
        (for as long as they take)."""
        cmd = [
            "--entrypoint", "h2load", self.image,
            f"--clients={clients}", f"--threads={min(2, clients)}",
            f"--max-concurrent-streams={streams}",
            f"--requests={requests}" if requests else f"--duration={seconds}",
            "--log-file=/dev/stdout",
            # The app serves the stack's host names only, also when called directly.
            "--header=:authority: localhost",
        ]  # fmt: skip
        if http1:
            cmd.append("--h1")
        if rps is not None:
            cmd.append(f"--rps={rps}")
        if post:
            cmd += ["--data=/bench/item.json", "--header=content-type: application/json"]
        cmd.append(url)
        timeout = 300 if requests else seconds + 90
        result = self.container(f"bench-h2load-{key}", where, cmd, timeout=timeout)
        log_text, summary_text = latency.split_output(result.stdout)
        try:
            summary = latency.parse_summary(summary_text)
            figures = latency.latency_figures(latency.parse_request_log(log_text))
        except latency.ParseError as error:
            tail = (result.stderr or "").strip()[-300:]
            raise BenchError(
                f"h2load failed for {key} ({result.returncode}): {error} {tail}"
            ) from None
        return {
            "requests": summary["done"],
            "seconds": round(summary["seconds"], 3),
            "rps": round(summary["done"] / summary["seconds"], 1) if summary["seconds"] else 0.0,
            **figures,
            "errors": summary["errors"],
            "status": summary["status"],
            "protocol": summary["protocol"],
            "clients": clients,
            "streams": streams,
        }


def remove_loadgen_containers(project: str) -> None:
    """Remove wrk containers this bench started and left behind (after Ctrl-C, a timeout)."""
    ids = run(
        ["docker", "ps", "-aq", "--filter", f"label={LABEL}={project}"], check=False
    ).stdout.split()
    for container in ids:
        run(["docker", "rm", "-f", container], check=False, timeout=60)
