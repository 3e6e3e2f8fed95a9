"""Container hardening, networks and secrets, read from the running stack."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator

import pytest
import yaml

from tests.support import settings
from tests.support.settings import secret
from tests.support.stack import compose, docker, inspect, outside_host

# Every service `make up` runs, read from compose.yaml: a new service is covered at once.
ALL_SERVICES = sorted(settings.compose_config()["services"])


@functools.cache
def compose_config() -> dict:
    # YAML, not --format json: Compose 2.26's JSON output drops x- extension fields.
    return yaml.safe_load(compose("config").stdout)


RULES = (
    "read_only", "cap_drop", "no-new-privileges", "mem_limit", "pids_limit", "log rotation",
    "restart", "non-root user",
)  # fmt: skip


def exceptions(service: str) -> dict[str, str]:
    """What a service is excused from, each a rule of RULES with the reason in compose.yaml."""
    excused: dict[str, str] = compose_config()["services"][service].get(
        "x-hardening-exceptions", {}
    )
    for rule, reason in excused.items():
        assert rule in RULES, f"{service}: {rule!r} is not a hardening rule"
        assert isinstance(reason, str) and len(reason.split()) >= 5, f"{service}.{rule}: no reason"
    return excused


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_service_is_hardened_or_says_why_not(service):
    container = inspect(service)
    host, config = container["HostConfig"], container["Config"]
    excused = exceptions(service)
    checks = {
        "read_only": host["ReadonlyRootfs"] is True,
        "cap_drop": "ALL" in (host.get("CapDrop") or []),
        "no-new-privileges": any(
            opt.startswith("no-new-privileges") for opt in host.get("SecurityOpt") or []
        ),
        "mem_limit": host["Memory"] > 0,
        "pids_limit": (host.get("PidsLimit") or 0) > 0,
        "log rotation": host["LogConfig"]["Type"] == "json-file"
        and host["LogConfig"]["Config"].get("max-size") == "10m"
        and host["LogConfig"]["Config"].get("max-file") == "3",
        "restart": host["RestartPolicy"]["Name"] == "unless-stopped",
        "non-root user": bool(config["User"]) and config["User"].split(":")[0] not in {"0", "root"},
    }
    assert set(checks) == set(RULES)
    failed = [name for name, ok in checks.items() if not ok and name not in excused]
    # An exception must excuse a rule the service really breaks: no blanket excuses.
    unneeded = [name for name in excused if checks[name]]
    assert not unneeded, f"{service} is excused from {unneeded} but keeps them"
    assert not failed, f"{service} lost {failed} with no reason in compose.yaml"
    assert not host.get("CapAdd"), f"{service} adds capabilities: {host.get('CapAdd')}"
    assert host.get("Privileged") is False
    # The running container has compose.yaml's exact user and limits, the figures of
    # security.md's table (tests/unit/test_documented_numbers.py ties the table to compose.yaml).
    declared = settings.compose_config()["services"][service]
    assert config["User"] == declared["user"]
    if "mem_limit" not in excused:
        assert host["Memory"] == int(declared["mem_limit"])
    if "pids_limit" not in excused:
        assert host["PidsLimit"] == int(declared["pids_limit"])


def networks_of(service: str) -> set[str]:
    names = inspect(service)["NetworkSettings"]["Networks"]
    return {name.rsplit("_", 1)[-1] for name in names}


# Each service is on the networks of the flows it takes part in, and no other.
NETWORKS = {
    "nginx": {"edge", "web", "status"},
    "app": {"web", "backend", "metrics", "egress", "queue"},
    "worker": {"backend", "queue", "metrics", "egress"},
    "scheduler": {"queue"},
    "broker": {"queue"},
    "broker-exporter": {"queue", "metrics"},
    "postgres": {"backend"},
    "redis": {"backend"},
    "prometheus": {"metrics", "ops"},
    "alertmanager": {"ops"},
    "postgres-exporter": {"backend", "metrics"},
    "redis-exporter": {"backend", "metrics"},
    "nginx-exporter": {"status", "metrics"},
    "acme": {"acme", "metrics"},
    # Probes nginx's listeners from the network nginx publishes on, as a client would.
    "blackbox-exporter": {"edge", "metrics"},
}


def running_networks() -> dict[str, set[str]]:
    """Each running service's networks, as Docker has connected its containers."""
    ids = compose("ps", "-q").stdout.split()
    networks: dict[str, set[str]] = {}
    for container in json.loads(docker("inspect", *ids).stdout):
        service = container["Config"]["Labels"]["com.docker.compose.service"]
        names = container["NetworkSettings"]["Networks"]
        networks.setdefault(service, set()).update(n.rsplit("_", 1)[-1] for n in names)
    return networks


@pytest.mark.parametrize("service", sorted(NETWORKS))
def test_each_service_is_on_its_flows_networks_only(service):
    assert networks_of(service) == NETWORKS[service]


def test_nginx_and_the_app_share_a_network_nothing_else_is_on():
    running = running_networks()

    def members(network: str) -> set[str]:
        return {service for service, networks in running.items() if network in networks}

    assert members("web") == {"nginx", "app"}
    # Alertmanager is reachable by Prometheus (and, in the `grafana` profile, Grafana) alone.
    assert members("ops") - {"grafana"} == {"prometheus", "alertmanager"}
    # The route out (Sentry) is the app's and the worker's alone.
    assert members("egress") == {"app", "worker"}
    # The certificate client's route out to the CA is its own.
    assert members("acme") == {"acme"}
    # The broker's clients alone reach it; the data services only their clients.
    assert members("queue") == {"app", "worker", "scheduler", "broker", "broker-exporter"}
    assert "prometheus" not in members("backend") and "nginx" not in members("backend")


@pytest.mark.parametrize("network", ["web", "backend", "metrics", "status", "queue"])
def test_the_inner_networks_are_internal(network):
    full = next(n for n in inspect("app" if network != "status" else "nginx")
                ["NetworkSettings"]["Networks"] if n.endswith(f"_{network}"))  # fmt: skip
    assert docker("network", "inspect", "-f", "{{.Internal}}", full).stdout.strip() == "true"


@pytest.fixture(scope="module")
def outside() -> Iterator[str]:
    with outside_host() as address:
        yield address


def reaches(service: str, address: str) -> bool:
    """Whether an HTTP request from the service's container gets an answer from ADDRESS."""
    probe = compose(
        "exec", "-T", service, "sh", "-c",
        f"wget -q -T 3 -t 1 -O /dev/null http://{address}:8099/ || "
        f"timeout 4 bash -c 'exec 3<>/dev/tcp/{address}/8099'",
        check=False, timeout=30,
    )  # fmt: skip
    return probe.returncode == 0


@pytest.mark.parametrize("service", ["postgres", "redis", "broker"])
def test_the_data_services_have_no_route_out(service, outside):
    assert not reaches(service, outside), f"{service} reached a host outside the stack"


@pytest.mark.parametrize("service", ["alertmanager", "app"])
def test_a_service_on_a_network_with_a_route_out_reaches_the_same_host(service, outside):
    # Alertmanager delivers webhooks and the app reports to Sentry, so their networks route
    # out: the probe above can tell.
    assert reaches(service, outside)


def secret_values() -> list[str]:
    return [value for name in secret_names() if (value := secret(name))]


def secret_names() -> list[str]:
    return sorted(settings.compose_config()["secrets"])


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_no_secret_appears_in_a_containers_environment_or_command(service):
    container = inspect(service)
    exposed = json.dumps([container["Config"]["Env"], container["Config"]["Cmd"],
                          container["Config"]["Entrypoint"], container["Args"]])  # fmt: skip
    for value in secret_values():
        assert value not in exposed, f"a secret is visible in docker inspect of {service}"


def test_no_secret_appears_in_any_log():
    logs = compose("logs", "--no-color", "--no-log-prefix").stdout
    for value in secret_values():
        assert value not in logs


@pytest.mark.parametrize("service", ["app", "nginx"])
def test_no_secret_is_baked_into_the_built_images(service):
    image = inspect(service)["Config"]["Image"]
    history = docker("history", "--no-trunc", image).stdout
    config = docker("image", "inspect", image).stdout
    for value in secret_values():
        assert value not in history and value not in config


def test_secrets_reach_the_app_as_files():
    listing = compose("exec", "-T", "app", "ls", "/run/secrets").stdout.split()
    assert set(listing) == {
        "secret_key",
        "sentry_dsn",
        "db_app_password",
        "redis_app_password",
        "broker_app_password",
    }
    env = {e.split("=", 1)[0] for e in inspect("app")["Config"]["Env"]}
    assert {"SECRET_KEY_FILE", "POSTGRES_PASSWORD_FILE", "REDIS_PASSWORD_FILE"} <= env
    assert {"SENTRY_DSN_FILE"} <= env
    assert not {"SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "SENTRY_DSN"} & env


def test_redis_refuses_clients_without_the_password():
    result = compose("exec", "-T", "redis", "redis-cli", "ping", check=False)
    assert "NOAUTH" in result.stdout + result.stderr
