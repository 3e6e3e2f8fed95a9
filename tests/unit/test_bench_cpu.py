"""bench/cpu.py: the machine's busy time from /proc/stat, a container's CPU time from each
cgroup layout Docker uses, and the split of a run's CPU per request."""

from __future__ import annotations

import pytest

from bench import cpu

pytestmark = pytest.mark.unit

# Linux 6.x: user nice system idle iowait irq softirq steal guest guest_nice (clock ticks).
PROC_STAT = """\
cpu  1000 20 300 50000 400 5 70 6 100 0
cpu0 500 10 150 25000 200 2 35 3 50 0
intr 123
"""


def test_busy_time_counts_user_nice_system_irq_softirq_steal_not_idle_iowait_or_guest():
    assert cpu.busy_ns(PROC_STAT, 100) == (1000 + 20 + 300 + 5 + 70 + 6) * 10**7


def test_a_file_that_does_not_start_with_the_cpu_line_is_refused():
    with pytest.raises(ValueError, match="not the cpu line"):
        cpu.busy_ns("intr 1\n", 100)


@pytest.mark.parametrize(
    "layout",
    [("cpuacct/docker/abc/cpuacct.usage", "2500000"),
     ("system.slice/docker-abc.scope/cpu.stat", "usage_usec 2500\nuser_usec 2000\n"),
     ("docker/abc/cpu.stat", "usage_usec 2500\nuser_usec 2000\n")],
    ids=["v1 cpuacct", "v2 systemd", "v2 cgroupfs"],
)  # fmt: skip
def test_a_containers_cpu_time_is_read_from_each_cgroup_layout(tmp_path, layout):
    path, text = layout
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_text(text)
    assert cpu.container_ns("abc", tmp_path) == 2_500_000
    assert cpu.container_ns("other", tmp_path) is None


def test_cpu_stat_without_usage_is_refused():
    with pytest.raises(ValueError, match="usage_usec"):
        cpu.usage_ns("user_usec 1\n")


def test_cpu_per_request_splits_the_machine_into_containers_and_the_rest():
    before = {"app": 1_000_000, "nginx": 0, "gone": 5_000_000}
    after = {"app": 5_000_000, "nginx": 2_000_000, "new": 9}
    # 1 000 requests; the machine was busy 10 ms: 4 in the app, 2 in nginx, 4 elsewhere.
    figures = cpu.per_request(before, after, 10_000_000, 1000)
    assert figures == {"app": 4.0, "nginx": 2.0, cpu.OUTSIDE: 4.0, "total": 10.0}
    assert cpu.per_request(before, after, 10_000_000, 0) == {}


def test_a_container_restarted_between_the_samples_is_left_out():
    # Its counter went back: a new container, whose time is not this run's.
    figures = cpu.per_request({"app": 9_000_000}, {"app": 1_000_000}, 2_000_000, 1000)
    assert figures == {cpu.OUTSIDE: 2.0, "total": 2.0}
