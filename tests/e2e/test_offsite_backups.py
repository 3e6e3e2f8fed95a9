"""Off-host backups against a real S3-compatible server (moto, tests/fixtures/s3/): the scheduled
backup lands in the bucket encrypted, retention prunes it, the verification job restores the
latest dump and alerts when it cannot, and `make restore` brings every row back from the bucket
after the volumes are destroyed, or refuses with one sentence."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import images, prometheus
from tests.support.edge import BASE
from tests.support.settings import POSTGRES_DB, PROJECT, ROOT
from tests.support.stack import compose, inspect, psql, wait_for

pytestmark = pytest.mark.exclusive

S3_COMPOSE = list(images.S3_COMPOSE)
BUCKET, PREFIX = "backups", "stack/"
NOW = dt.datetime.now(dt.UTC)
SNAPSHOT = "SELECT id, name, coalesce(description, '<null>'), created_at, updated_at FROM items"


def s3(*args: str, stdin: bytes | None = None) -> bytes:
    """bucket.py in the test S3 server's container: `list`, `get KEY`, `put KEY`, ..."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "compose.sh"), *S3_COMPOSE, "exec", "-T", "s3",
         "python", "/usr/local/bin/bucket.py", BUCKET, *args],
        cwd=ROOT, capture_output=True, input=stdin, timeout=60,
        env={**os.environ, "COMPOSE_PROJECT_NAME": PROJECT},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def keys() -> set[str]:
    return set(s3("list").decode().split())


def dump_name(at: dt.datetime) -> str:
    return f"{PREFIX}{POSTGRES_DB}-{at:%Y%m%dT%H%M%SZ}.dump.age"


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[dict[str, str]]:
    """The S3 server running with an empty bucket; the environment that points the stack's
    backup service and `make restore` at it, with a new age key pair."""
    secrets = tmp_path_factory.mktemp("backup-secrets")
    s3_env = {"COMPOSE_PROJECT_NAME": PROJECT}
    compose(*S3_COMPOSE, "up", "-d", "--build", "--wait", env=s3_env, timeout=900)
    try:
        s3("create")
        images.backup()
        pair = compose("--profile", "backup", "run", "--rm", "--no-deps", "-T",
                       "--entrypoint", "age-keygen", "backup").stdout  # fmt: skip
        identity = next(line for line in pair.splitlines() if line.startswith("AGE-SECRET-KEY"))
        recipient = pair.split("public key: ")[1].split()[0]
        # Test keys, readable by the service's user through the bind mount.
        (secrets / "identity").write_text(identity + "\n")
        (secrets / "s3_credentials").write_text(
            "[default]\naws_access_key_id = test\naws_secret_access_key = test\n"
        )
        for path in secrets.iterdir():
            path.chmod(0o644)
        yield {
            # On top of the files the stack runs with (compose.yaml unless COMPOSE_FILE says).
            "COMPOSE_FILE": os.environ.get("COMPOSE_FILE", "compose.yaml")
            + ":tests/fixtures/s3/compose.bucket.yaml",
            "BACKUP_TEST_DIR": str(secrets),
            "BACKUP_TEST_RECIPIENT": recipient,
            "AGE_KEY": str(secrets / "identity"),
        }
    finally:
        compose("--profile", "backup", "rm", "-sf", "backup", check=False)
        compose(*S3_COMPOSE, "down", "--volumes", env=s3_env, check=False)


# Old dumps already in the bucket (their content is no dump: retention goes by name): two a day,
# at 01:00 and 02:00, on each of the 60 days before today.
MIDNIGHT = dt.datetime.combine(NOW.date(), dt.time(), dt.UTC)
SEEDED = {dump_name(MIDNIGHT - dt.timedelta(days=days) + dt.timedelta(hours=hour))
          for days in range(1, 61) for hour in (1, 2)}  # fmt: skip


@pytest.fixture(scope="module")
def service(env) -> dict[str, str]:
    """The scheduled backup service running on the bucket seeded with old dumps: it takes a
    backup at once (then hourly), and verifies the latest dump every few seconds."""
    s3("put", *sorted(SEEDED), f"{PREFIX}README", stdin=b"not a dump")
    # A dump well past a pipe's 64 KiB, whatever the suite wrote before: the verification's
    # table-of-contents read closes its pipe early then, and that must not fail it.
    psql(
        "INSERT INTO items (name, description, created_at, updated_at) SELECT 'bulk ' || g, "
        "md5(g::text) || md5((g * 7)::text), now(), now() FROM generate_series(1, 5000) g"
    )
    run_env = {**env, "BACKUP_INTERVAL_SECONDS": "3600", "BACKUP_VERIFY_INTERVAL_SECONDS": "4"}
    compose("--profile", "backup", "up", "-d", "--no-deps", "backup", env=run_env)
    return run_env


def new_dumps() -> set[str]:
    return {k for k in keys() if k.endswith(".dump.age")} - SEEDED


def test_a_scheduled_backup_lands_in_the_bucket_encrypted_and_retention_prunes_old_ones(service):
    wait_for(lambda: len(new_dumps()) == 1, 120, 2, "the scheduled backup in the bucket")
    (name,) = new_dumps()
    body = s3("get", name)
    assert body.startswith(b"age-encryption.org/v1\n") and b"PGDMP" not in body
    # Without the key, no tool reads it as a dump.
    listing = subprocess.run(
        [str(ROOT / "scripts" / "compose.sh"), "exec", "-T", "postgres", "pg_restore", "--list"],
        cwd=ROOT, capture_output=True, input=body, timeout=60,
    )  # fmt: skip
    assert listing.returncode != 0 and b"TABLE DATA" not in listing.stdout
    # The service is hardened like every other (tests/e2e/test_hardening.py checks those).
    host = inspect("backup")["HostConfig"]
    assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"] and host["Memory"] > 0
    assert host["PidsLimit"] > 0 and "no-new-privileges:true" in host["SecurityOpt"]
    assert inspect("backup")["Config"]["User"] == "999:999"

    def pruned() -> bool:
        return bool(SEEDED - keys())

    wait_for(pruned, 30, 1, "retention")
    kept = keys() & SEEDED
    by_age = {key: (NOW.date() - taken(key).date()).days for key in SEEDED}
    # Daily: the newest of each of the 6 days before today; the earlier dumps of those days go.
    assert {k for k in kept if by_age[k] < 7} == {
        k for k in SEEDED if by_age[k] < 7 and taken(k).hour == 2
    }
    # Weekly: at most one per ISO week, each that week's newest, none older than 5 weeks.
    older = sorted(k for k in kept if by_age[k] >= 7)
    weeks = [taken(k).isocalendar()[:2] for k in older]
    assert len(weeks) == len(set(weeks)) and 3 <= len(older) <= 4, older
    for key in older:
        week = taken(key).isocalendar()[:2]
        assert key == max((k for k in SEEDED if taken(k).isocalendar()[:2] == week), key=taken)
    assert all(by_age[k] <= 35 for k in kept)
    # What is not a dump stays.
    assert f"{PREFIX}README" in keys() and name in keys()


def taken(key: str) -> dt.datetime:
    stamp = key.rsplit("-", 1)[1].split(".")[0]
    return dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def firing(alert: str) -> bool:
    alerts = prometheus.get("/api/v1/alerts")["alerts"]
    return any(a["labels"]["alertname"] == alert and a["state"] == "firing" for a in alerts)


def test_verification_restores_the_latest_dump_and_alerts_when_it_cannot(service):
    def verified() -> bool:
        ok = prometheus.scalar("backup_verify_last_run_success")
        at = prometheus.scalar("backup_verify_last_success_timestamp_seconds")
        backed_up = prometheus.scalar("backup_last_success_timestamp_seconds")
        return ok == 1 and at is not None and backed_up is not None and at >= NOW.timestamp()

    wait_for(verified, 120, 2, "a successful verification in Prometheus")
    logs = compose("logs", "--no-log-prefix", "backup", env=service).stdout
    assert '"event": "verify", "outcome": "success"' in logs
    assert not firing("BackupVerificationFailed")

    # A truncated copy of the real dump becomes the newest in the bucket.
    (real,) = new_dumps()
    body = s3("get", real)
    truncated = dump_name(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    s3("put", truncated, stdin=body[: len(body) // 2])
    try:
        wait_for(lambda: firing("BackupVerificationFailed"), 120, 2, "the alert firing")
        logs = compose("logs", "--no-log-prefix", "backup", env=service).stdout
        assert '"event": "verify", "outcome": "failure"' in logs
    finally:
        s3("delete", truncated)
    # The good dump verifies again.
    wait_for(lambda: prometheus.scalar("backup_verify_last_run_success") == 1, 60, 2, "recovery")


def backup_now(env: dict[str, str]) -> str:
    """Take a backup at once through the service; the bucket key it uploaded."""
    took = compose("--profile", "backup", "exec", "-T", "backup", "python", "-m", "pgbackup",
                   "backup", env=env)  # fmt: skip
    (uploaded,) = re.findall(r'"uploaded": "s3://[^/]+/([^"]+)"', took.stdout)
    return uploaded


@pytest.mark.parametrize(
    ("change", "versions"),
    [("INSERT INTO alembic_version VALUES ('a_second_head')", 2),
     ("DELETE FROM alembic_version", 0)],
    ids=["two versions", "no version"],
)  # fmt: skip
def test_verification_fails_a_dump_that_does_not_hold_exactly_one_migration_version(
    service, change, versions
):
    (version,) = psql("SELECT version_num FROM alembic_version").split()
    psql(change)
    try:
        bad = backup_now(service)
    finally:
        psql(f"BEGIN; DELETE FROM alembic_version; "
             f"INSERT INTO alembic_version VALUES ('{version}'); COMMIT")  # fmt: skip
    assert psql("SELECT version_num FROM alembic_version") == version
    try:
        reason = f"{Path(bad).name} holds {versions} migration versions, not one."

        def refused() -> bool:
            logs = compose("logs", "--no-log-prefix", "backup", env=service).stdout
            return any('"outcome": "failure"' in line and reason in line
                       for line in logs.splitlines())  # fmt: skip

        wait_for(refused, 60, 2, f"the verification refusing {bad}")
    finally:
        s3("delete", bad)
    # Retention kept only the newest dump of today, the bad one: a good one takes its place.
    backup_now(service)
    wait_for(lambda: prometheus.scalar("backup_verify_last_run_success") == 1, 60, 2, "recovery")


def make(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-s", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **env},
    )  # fmt: skip


def local_backup() -> str:
    """`make backup`: a plain dump in backups/ on this host; its path."""
    taken = make({}, "backup")
    assert taken.returncode == 0, taken.stdout + taken.stderr
    backup = taken.stdout.strip().splitlines()[-1]
    path = ROOT / backup
    assert path.is_file() and path.read_bytes()[:5] == b"PGDMP"
    assert path.parent.name == "backups"
    # docs/operations.md: "The file is mode 0600, in a 0700 directory".
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    return backup


def test_make_restore_brings_back_every_row_from_the_bucket_or_a_local_dump_after_destroy(
    service, http
):
    """The restore drill, once for both kinds of backup: rows of every shape written, a dump
    taken to the bucket by the service and one to backups/ by `make backup`, the volumes
    destroyed and the stack brought up empty; then `make restore BACKUP=bucket:latest` into the
    fresh stack and `make restore BACKUP=<local dump> REPLACE=1` each bring back every row."""
    tag = uuid.uuid4().hex[:8]
    bodies = [
        {"name": f"drill {tag} plain", "description": "a row"},
        {"name": f"drill {tag} null", "description": None},
        {"name": f"drill {tag} unicode ✓ ünï", "description": "emoji 🚀 and 'quotes' \"too\""},
        {"name": f"drill {tag} long", "description": "x" * 2000},
    ]
    for body in bodies:
        assert http.post(f"{BASE}/api/items", json=body, timeout=10).status_code == 201
    before = psql(f"{SNAPSHOT} ORDER BY id")
    assert before.count(f"drill {tag}") == len(bodies)
    highest_id = int(psql("SELECT max(id) FROM items"))
    backup_now(service)
    local = local_backup()

    destroyed = make({}, "destroy")
    assert destroyed.returncode == 0, destroyed.stderr
    assert make({}, "up").returncode == 0
    assert psql("SELECT count(*) FROM items") == "0", "the volume was not really destroyed"
    # The scheduler claims a period of its periodic job on the clock (app/jobs/runs.py): a
    # fresh stack holds such a row soon, and is still a fresh stack to restore into.
    psql("INSERT INTO periodic_runs (job, period) VALUES ('imports.expire', 1) "
         "ON CONFLICT DO NOTHING")  # fmt: skip

    restored = make(service, "restore", "BACKUP=bucket:latest")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert psql(f"{SNAPSHOT} ORDER BY id") == before
    wait_for(lambda: http.get(f"{BASE}/health", timeout=5).status_code == 200, 60)

    replaced = make({}, "restore", f"BACKUP={local}", "REPLACE=1")
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert "restored" in replaced.stdout
    assert psql(f"{SNAPSHOT} ORDER BY id") == before
    wait_for(lambda: http.get(f"{BASE}/health", timeout=5).status_code == 200, 60)
    listed = http.get(f"{BASE}/api/items?limit=100", timeout=10).json()
    assert {b["name"] for b in bodies} <= {i["name"] for i in listed["items"]}
    # The id sequence came back too: a new row does not collide with a restored one. (Deleted
    # again: the database stays what the bucket's latest dump holds, for the next test.)
    created = http.post(f"{BASE}/api/items", json={"name": f"drill {tag} after"}, timeout=10)
    assert created.status_code == 201
    assert created.json()["id"] > highest_id
    assert http.delete(created.headers["Location"], timeout=10).status_code == 204


def refusal(env: dict[str, str], backup: str, **extra: str) -> str:
    result = make({**env, **extra}, "restore", f"BACKUP={backup}", timeout=300)
    assert result.returncode != 0, result.stdout
    # The script's one sentence, before make's own "Error 2" line ("make[1]: ..." when the
    # tests themselves run under make, as `make test` runs them).
    lines = [line for line in result.stderr.splitlines() if not re.match(r"make(\[\d+\])?: ", line)]
    return lines[-1] if lines else ""


def test_make_restore_refuses_a_wrong_key_a_foreign_dump_and_a_database_that_holds_rows(
    service, tmp_path: Path
):
    env = service
    before = psql(f"{SNAPSHOT} ORDER BY id")
    assert before, "the drill left no rows to protect"
    wrong_key = tmp_path / "wrong-key"
    pair = compose("--profile", "backup", "run", "--rm", "--no-deps", "-T", "--entrypoint",
                   "age-keygen", "backup", env=env).stdout  # fmt: skip
    wrong_key.write_text(next(line for line in pair.splitlines() if line.startswith("AGE-")))

    said = refusal(env, "bucket:latest", AGE_KEY=str(wrong_key))
    assert "cannot be decrypted with the key given" in said, said
    said = refusal(env, f"bucket:{POSTGRES_DB}-20000101T000000Z.dump.age")
    assert "holds no dump named" in said, said
    foreign = tmp_path / "postgres.dump"
    foreign.write_bytes(
        subprocess.run(
            [str(ROOT / "scripts" / "compose.sh"), "exec", "-T", "postgres", "pg_dump", "-U",
             "postgres", "-d", "postgres", "--format=custom"],
            cwd=ROOT, capture_output=True, check=True, timeout=60,
        ).stdout
    )  # fmt: skip
    said = refusal(env, str(foreign))
    assert "is not a dump of this database" in said and "'postgres'" in said, said
    said = refusal(env, "bucket:latest")
    assert said.startswith(f"The database {POSTGRES_DB} still holds rows"), said
    assert "REPLACE=1" in said
    assert ". " not in said
    assert psql(f"{SNAPSHOT} ORDER BY id") == before, "a refused restore changed the database"

    replaced = make(env, "restore", "BACKUP=bucket:latest", "REPLACE=1")
    assert replaced.returncode == 0, replaced.stderr
    assert psql(f"{SNAPSHOT} ORDER BY id") == before
