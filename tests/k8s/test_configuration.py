"""Configuration: wiring only, every setting at its one default, each process the environment
compose gives it."""

from __future__ import annotations

import re

import pytest

from tests.k8s.compose_file import MIRRORED, compose, compose_default, compose_service
from tests.k8s.manifests import config_map, containers, env_of, find, secret_files_read

pytestmark = pytest.mark.unit


# Where k8s differs from compose on purpose, and why.
ENV_DIFFERENCES = {
    "TRUSTED_PROXIES": "NetworkPolicies decide who reaches the app; app/proxy.py trusts every "
    "peer when it is unset",
    "GOMAXPROCS": "a Go runtime setting of compose's exporters, not carried over",
}


def test_the_app_gets_wiring_and_no_setting_or_version(overlay):
    _, docs = overlay
    env = config_map(docs, "app-env")
    assert set(env) == {
        "SECRET_KEY_FILE",
        "SENTRY_DSN_FILE",
        "POSTGRES_HOST",
        "POSTGRES_PASSWORD_FILE",
        "REDIS_URL",
        "REDIS_USER",
        "REDIS_PASSWORD_FILE",
        "JOBS_BROKER_URL",
        "BROKER_USER",
        "BROKER_PASSWORD_FILE",
    }
    # The version is the image's own (app/version.py): nothing in the render may override it.
    for container in containers(docs).values():
        names = {e["name"] for e in container.get("env", [])}
        assert "APP_VERSION" not in names, container["name"]
    config_maps = [d for d in docs if d["kind"] == "ConfigMap"]
    assert not any("APP_VERSION" in str(d.get("data", {})) for d in config_maps)


@pytest.mark.parametrize("service", MIRRORED)
def test_each_process_gets_the_environment_compose_gives_it(overlay, service):
    # Who logs in as whom (app_user, app_owner, app_monitor, the superuser; Redis's app and
    # monitor), the database's name, the cache prefix Redis's ACL confines the app to, and
    # every *_FILE path: as compose.yaml with no .env, apart from ENV_DIFFERENCES.
    _, docs = overlay
    expected = {
        key: compose_default(value)
        for key, value in (compose_service(service).get("environment") or {}).items()
        if key not in ENV_DIFFERENCES
    }
    env = env_of(docs, service)
    assert {key: env.get(key) for key in expected} == expected
    assert "TRUSTED_PROXIES" not in env, service


def test_the_scheduler_gets_the_brokers_settings_alone(overlay):
    # Celery beat only publishes: no database, cache or secret key, as in compose.
    _, docs = overlay
    env = env_of(docs, "scheduler")
    assert env == {
        key: compose_default(value)
        for key, value in compose_service("scheduler")["environment"].items()
    }
    assert not containers(docs)["scheduler"].get("envFrom")


def test_the_roles_are_composes(overlay):
    _, docs = overlay
    roles = compose()["x-db-roles"]
    assert set(roles) == {"DB_OWNER", "DB_APP_USER", "DB_MONITOR_USER"}
    assert {k: env_of(docs, "db-setup")[k] for k in roles} == roles
    # Four distinct logins: the superuser initialises, each role does one job.
    logins = {
        env_of(docs, "postgres")["POSTGRES_USER"],
        env_of(docs, "migrate")["POSTGRES_USER"],
        env_of(docs, "app")["POSTGRES_USER"],
        env_of(docs, "postgres-exporter")["DATA_SOURCE_USER"],
    }
    assert logins == {"postgres", *roles.values()}
    databases = {env_of(docs, name)["POSTGRES_DB"] for name in ("postgres", "db-setup", "migrate")}
    assert databases == {env_of(docs, "app")["POSTGRES_DB"]}
    assert env_of(docs, "postgres-exporter")["DATA_SOURCE_URI"].startswith(
        f"postgres:5432/{env_of(docs, 'app')['POSTGRES_DB']}?"
    )


def test_the_cache_prefix_is_the_one_redis_confines_the_app_to(overlay):
    _, docs = overlay
    prefix = env_of(docs, "app")["CACHE_KEY_PREFIX"]
    assert prefix and env_of(docs, "redis")["CACHE_KEY_PREFIX"] == prefix
    assert env_of(docs, "app")["REDIS_USER"] == "app"
    assert env_of(docs, "redis-exporter")["REDIS_USER"] == "monitor"
    # The worker is the app's cache and database client too: the same logins and prefix.
    for key in ("POSTGRES_USER", "REDIS_USER", "CACHE_KEY_PREFIX"):
        assert env_of(docs, "worker")[key] == env_of(docs, "app")[key], key


def _broker_users(script: str) -> dict[str, str]:
    """{ACL user: the secret file its password is hashed from} of redis/broker.sh."""
    return dict(re.findall(r"^user (\w+) on #\$\(hashed (/run/secrets/\w+)\)", script, re.M))


def test_each_broker_client_logs_in_as_its_own_acl_user_with_its_password(overlay):
    # The app and the scheduler publish as `app`, the worker takes as `worker`, the exporter
    # and the probes read as `monitor`: each with the password file the broker hashes for it.
    _, docs = overlay
    script = config_map(docs, "broker-setup")["broker.sh"]
    assert "user default off" in script
    users = _broker_users(script)
    assert set(users) == {"app", "worker", "monitor"}
    for client, user in (("app", "app"), ("scheduler", "app"), ("worker", "worker")):
        env = env_of(docs, client)
        assert env["JOBS_BROKER_URL"] == "redis://broker:6379/0", client
        assert (env["BROKER_USER"], env["BROKER_PASSWORD_FILE"]) == (user, users[user]), client
    exporter = env_of(docs, "broker-exporter")
    assert (exporter["REDIS_ADDR"], exporter["REDIS_USER"]) == ("redis://broker:6379", "monitor")
    assert secret_files_read(docs, "broker-exporter") == {users["monitor"]}
    assert env_of(docs, "broker")["MONITOR_PASSWORD_FILE"] == users["monitor"]


def test_nginx_finds_the_app_through_the_cluster_dns_and_its_certificate(overlay):
    name, docs = overlay
    env = config_map(docs, "nginx-env")
    assert env["NGINX_UPSTREAM"] == "app.flask-stack.svc.cluster.local:8000"
    assert env["NGINX_RESOLVER"] == "kube-dns.kube-system.svc.cluster.local"
    if name == "production":
        assert env["HTTPS_PORT"] == "443"
    nginx = find(docs, "Deployment", "nginx")["spec"]["template"]["spec"]
    certs = next(v for v in nginx["volumes"] if v["name"] == "certs")["secret"]
    assert find(docs, "Secret", "nginx-tls")["metadata"]["name"] == certs["secretName"]
    assert {i["key"]: i["path"] for i in certs["items"]} == {
        "tls.crt": "fullchain.pem",
        "tls.key": "privkey.pem",
    }
    mount = next(m for m in nginx["containers"][0]["volumeMounts"] if m["name"] == "certs")
    assert mount["mountPath"] == "/etc/nginx/certs"


def test_nginx_serves_the_static_files_the_app_image_publishes(overlay):
    _, docs = overlay
    nginx = find(docs, "Deployment", "nginx")["spec"]["template"]["spec"]
    (init,) = nginx["initContainers"]
    assert init["image"] == containers(docs)["app"]["image"]
    assert init["command"][-2:] == ["/app/static-build", "/srv/static"]
    served = next(m for m in nginx["containers"][0]["volumeMounts"] if m["name"] == "static")
    assert served["mountPath"] == "/usr/share/nginx/static" and served["readOnly"] is True


def test_nginx_buffers_on_a_volume_of_its_own(overlay):
    # nginx/docker-entrypoint.sh writes /var/cache/nginx: on a read-only root, nginx would not
    # start without it (compose's second tmpfs).
    _, docs = overlay
    nginx = find(docs, "Deployment", "nginx")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in nginx["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in nginx["volumes"]}
    assert "emptyDir" in volumes[mounts["/var/cache/nginx"]]
    assert mounts["/var/cache/nginx"] != mounts["/tmp"]
