"""Container hardening, networks and secrets, read from the running stack."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.support.settings import secret
from tests.support.stack import compose, docker, inspect

LONG_RUNNING = [
    "nginx", "app", "postgres", "redis", "prometheus", "alertmanager",
    "postgres-exporter", "redis-exporter", "nginx-exporter",
]  # fmt: skip
ALL_SERVICES = [*LONG_RUNNING, "migrate", "assets"]
SECRET_NAMES = ["secret_key", "postgres_password", "redis_password"]


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


def networks_of(service: str) -> set[str]:
    names = inspect(service)["NetworkSettings"]["Networks"]
    return {name.rsplit("_", 1)[-1] for name in names}


def test_data_services_live_only_on_the_internal_backend_network():
    assert networks_of("postgres") == {"backend"}
    assert networks_of("redis") == {"backend"}
    assert "backend" not in networks_of("nginx")
    assert networks_of("app") == {"edge", "backend"}
    backend = next(n for n in inspect("postgres")["NetworkSettings"]["Networks"])
    internal = docker("network", "inspect", "-f", "{{.Internal}}", backend).stdout.strip()
    assert internal == "true"


def has_default_route(service: str) -> bool:
    """Whether the container's routing table has a default route (read from /proc)."""
    table = compose("exec", "-T", service, "cat", "/proc/net/route").stdout.splitlines()[1:]
    return any(line.split()[1] == "00000000" for line in table)


@pytest.mark.parametrize("service", ["postgres", "redis"])
def test_the_data_services_have_no_route_out(service):
    assert not has_default_route(service), f"{service} has a default route"
    # A connection to an outside address fails at once in the container itself: no route, so
    # no packet leaves (a refusal or a timeout would mean it got somewhere).
    probe = compose(
        "exec", "-T", service, "bash", "-c", "exec 3<>/dev/tcp/192.0.2.1/80", check=False
    )
    assert probe.returncode != 0
    assert "Network is unreachable" in probe.stderr, probe.stderr


def test_the_route_check_sees_a_route_where_there_is_one():
    # nginx is on the edge network, which has a gateway: the check above can tell the two apart.
    assert has_default_route("nginx")


def secret_values() -> list[str]:
    return [secret(name) for name in SECRET_NAMES]


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
    assert set(SECRET_NAMES) <= set(listing)
    env = {e.split("=", 1)[0] for e in inspect("app")["Config"]["Env"]}
    assert {"SECRET_KEY_FILE", "POSTGRES_PASSWORD_FILE", "REDIS_PASSWORD_FILE"} <= env
    assert not {"SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD"} & env


def test_redis_refuses_clients_without_the_password():
    result = compose("exec", "-T", "redis", "redis-cli", "ping", check=False)
    assert "NOAUTH" in result.stdout + result.stderr
