"""Log shipping (compose.syslog.yaml): nginx and the app, recreated with Docker's syslog
driver, send their lines to a real rsyslog (Debian package) that this test starts; one request's
id is found in both services' received lines. The two services are recreated as they were."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support import images
from tests.support.edge import BASE, new_session
from tests.support.settings import PROJECT
from tests.support.stack import compose, container_id, docker, wait_for, with_compose_file

pytestmark = pytest.mark.exclusive

OVERLAY = "compose.syslog.yaml"
SERVICES = ("nginx", "app")


def received(name: str) -> list[str]:
    out = docker("exec", name, "cat", "/var/log/received/all.log", check=False).stdout
    return out.splitlines()


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    """rsyslog on a loopback port of this host (Docker's daemon sends from the host), and nginx
    and the app shipping to it; both recreated from compose.yaml alone afterwards."""
    name = f"{PROJECT}-rsyslog-{uuid.uuid4().hex[:8]}"
    docker("run", "-d", "--rm", "--name", name, "--read-only", "--cap-drop", "ALL",
           "--tmpfs", "/tmp:uid=65534", "--tmpfs", "/var/log/received:uid=65534",
           "-p", "127.0.0.1::5514", images.rsyslog())  # fmt: skip
    try:
        port = docker("port", name, "5514/tcp").stdout.split(":")[-1].strip()
        wait_for(lambda: docker("exec", name, "test", "-f", "/tmp/rsyslogd.pid").returncode == 0,
                 30, 0.5, "rsyslog to start")  # fmt: skip
        env = {"SYSLOG_ADDRESS": f"tcp://127.0.0.1:{port}", **with_compose_file(OVERLAY)}
        # --no-deps: only these two move to syslog; the rest of the stack stays as it is.
        compose("up", "-d", "--no-build", "--no-deps", "--wait", "--wait-timeout", "120",
                *SERVICES, env=env, timeout=240)  # fmt: skip
        yield name
    finally:
        compose("up", "-d", "--no-build", "--wait", "--wait-timeout", "120", *SERVICES,
                timeout=240)  # fmt: skip
        docker("rm", "-f", name, check=False)


def test_one_requests_id_reaches_the_receiver_in_nginx_and_app_lines(receiver):
    for service in SERVICES:
        driver = docker("inspect", "-f", "{{.HostConfig.LogConfig.Type}}", container_id(service))
        assert driver.stdout.strip() == "syslog", service
    request_id = f"ship-{uuid.uuid4().hex}"
    response = new_session().get(f"{BASE}/api/items?limit=1", headers={"X-Request-ID": request_id},
                                 timeout=30)  # fmt: skip
    assert response.status_code == 200

    def tagged(service: str) -> list[str]:
        tag = f"{PROJECT}-{service}-"
        return [line for line in received(receiver) if request_id in line and tag in line]

    wait_for(lambda: all(tagged(s) for s in SERVICES), 30, 1, "the request's lines at rsyslog")
    for service in SERVICES:
        # The line arrives as the service wrote it: JSON, with the request id as a field.
        assert f'"request_id": "{request_id}"' in tagged(service)[0].replace('":"', '": "')
