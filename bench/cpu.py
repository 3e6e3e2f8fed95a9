"""CPU time per request, by container: where a scenario's CPU goes (bench/bench.py).

The bench shares the machine's CPUs with the stack, so a throughput ratio between two scenarios
mixes what each component costs. Reading every container's CPU time (its cgroup's counter)
before and after a measured run, and the machine's busy time from /proc/stat, splits the cost
of one request into the app, nginx, Postgres, Redis, ... and "outside the stack": the load
generator (wrk encrypting TLS, its container's start), Docker's log pipeline, and the kernel
time not charged to a container.

Only the standard library; the parsing functions are pure (tests/unit/test_bench_parsing.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
OUTSIDE = "outside the stack"
# /proc/stat's first line: user nice system idle iowait irq softirq steal guest guest_nice,
# in clock ticks; guest time is already counted in user.
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)


def busy_ns(proc_stat: str, ticks_per_second: int) -> int:
    """The machine's busy CPU time, all CPUs, in ns, from the text of /proc/stat."""
    first = proc_stat.splitlines()[0].split()
    if first[0] != "cpu":
        raise ValueError(f"/proc/stat starts with {first[0]!r}, not the cpu line")
    ticks = [int(value) for value in first[1:]]
    return sum(ticks[i] for i in BUSY_FIELDS if i < len(ticks)) * 10**9 // ticks_per_second


def usage_ns(cpu_stat: str) -> int:
    """A cgroup v2 cpu.stat's usage, in ns."""
    for line in cpu_stat.splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return int(value) * 1000
    raise ValueError("cpu.stat has no usage_usec line")


def container_ns(container_id: str, root: Path = CGROUP) -> int | None:
    """A running container's CPU time so far, in ns, from its cgroup: v1 (cpuacct), v2 with
    the systemd or the cgroupfs driver; None when none of those holds it."""
    v1 = root / "cpuacct" / "docker" / container_id / "cpuacct.usage"
    if v1.is_file():
        return int(v1.read_text())
    for v2 in (
        root / "system.slice" / f"docker-{container_id}.scope" / "cpu.stat",
        root / "docker" / container_id / "cpu.stat",
    ):
        if v2.is_file():
            return usage_ns(v2.read_text())
    return None


class Sample:
    """The CPU time of each container and of the machine at one moment."""

    def __init__(self, containers: Mapping[str, str]) -> None:
        self.machine = busy_ns(Path("/proc/stat").read_text(), os.sysconf("SC_CLK_TCK"))
        self.containers: dict[str, int] = {}
        for service, container_id in containers.items():
            ns = container_ns(container_id)
            if ns is not None:
                self.containers[service] = ns


def per_request(
    before: Mapping[str, int],
    after: Mapping[str, int],
    machine_ns: int,
    requests: int,
) -> dict[str, float]:
    """µs of CPU per request for each container seen at both ends (a container replaced in
    between is left out), the rest of the machine's busy time as OUTSIDE, and the total."""
    if requests <= 0:
        return {}
    spent = {name: after[name] - before[name] for name in before if name in after}
    spent = {name: ns for name, ns in spent.items() if ns >= 0}
    figures = {name: round(ns / requests / 1000, 1) for name, ns in sorted(spent.items())}
    figures[OUTSIDE] = round(max(machine_ns - sum(spent.values()), 0) / requests / 1000, 1)
    figures["total"] = round(machine_ns / requests / 1000, 1)
    return figures


def between(first: Sample, second: Sample, requests: int) -> dict[str, float]:
    """µs of CPU per request between two samples (see per_request)."""
    return per_request(
        first.containers, second.containers, second.machine - first.machine, requests
    )
