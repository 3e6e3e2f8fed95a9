"""python -m pgbackup [run | backup | verify | fetch SOURCE | health]

run     the service: a backup now, then one every BACKUP_INTERVAL_SECONDS; a verification of
        the latest dump after the first backup, then every BACKUP_VERIFY_INTERVAL_SECONDS
        (0: never); metrics on BACKUP_METRICS_PORT
backup  one backup now (dump, encrypt, keep, upload, retention); exits 1 on failure
verify  one verification of the latest dump now; exits 1 on failure
fetch   write the plain dump SOURCE to stdout: `latest` or a dump's name in the bucket, or a
        path in the container; an encrypted one is decrypted with the age private key read from
        stdin (`make restore` runs this). A refusal is one sentence on stderr, exit 2
health  the container's healthcheck: the metrics endpoint answers
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import start_http_server

from pyservice.logs import service_logger

from . import dump, metrics, retention
from .bucket import Bucket, BucketError
from .log import LOGGER, log
from .settings import Settings, SettingsError
from .verify import VerifyError, verify

AGE_HEADER = b"age-encryption.org/v1"


def _settings() -> Settings:
    try:
        return Settings.from_environ(os.environ)
    except SettingsError as error:
        log("settings", "failure", f"The backup service cannot start: {error}.")
        raise SystemExit(2) from None


def backup(settings: Settings, state: metrics.State) -> bool:
    now = dt.datetime.now(dt.UTC)
    try:
        path = dump.take(settings, now)
        uploaded = ""
        if settings.bucket:
            bucket = Bucket(settings)
            bucket.upload(path)
            uploaded = f"s3://{settings.bucket}/{settings.prefix}{path.name}"
            deleted = retention.to_delete(
                bucket.names(), now, settings.keep_daily, settings.keep_weekly
            )
            bucket.delete(deleted)
            if deleted:
                log("retention", "success", f"deleted {len(deleted)} dumps", deleted=deleted)
        dump.prune_local(settings)
    except Exception as error:  # any failure is reported, and retried next time
        log("backup", "failure", f"The backup failed: {error}", error=type(error).__name__)
        state.record("backup", False, time.time())
        return False
    log("backup", "success", f"backup written: {path}", file=path.name, uploaded=uploaded,
        bytes=path.stat().st_size)  # fmt: skip
    state.record("backup", True, time.time())
    return True


def verify_latest(settings: Settings, state: metrics.State) -> bool:
    now = dt.datetime.now(dt.UTC)
    workdir = Path(tempfile.mkdtemp(prefix=".verify-", dir=settings.directory))
    try:
        if settings.bucket:
            bucket = Bucket(settings)
            name = bucket.latest()
            path = workdir / name
            bucket.download(name, path)
        else:
            dumps = dump.local_dumps(settings)
            if not dumps:
                raise VerifyError("There is no dump to verify yet.")
            path = dumps[-1]
        version = verify(settings, path, now)
    except Exception as error:
        log("verify", "failure", f"The verification failed: {error}", error=type(error).__name__)
        state.record("verify", False, time.time())
        return False
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    log("verify", "success", f"{path.name} restored and checked", file=path.name,
        migration_version=version)  # fmt: skip
    state.record("verify", True, time.time())
    return True


def run(settings: Settings) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    settings.directory.mkdir(mode=0o700, exist_ok=True)
    state = metrics.State(settings.directory / "state.json")
    metrics.UPLOADS.set(1 if settings.bucket else 0)
    start_http_server(settings.metrics_port)
    log("start", "success", "backup service started", bucket=settings.bucket or None,
        encrypted=bool(settings.recipient))  # fmt: skip
    next_backup = next_verify = time.monotonic()
    while not stop.is_set():
        if time.monotonic() >= next_backup:
            backup(settings, state)
            next_backup = time.monotonic() + settings.interval
        if settings.verify_interval and time.monotonic() >= next_verify:
            verify_latest(settings, state)
            next_verify = time.monotonic() + settings.verify_interval
        upcoming = [next_backup] + ([next_verify] if settings.verify_interval else [])
        stop.wait(max(0.0, min(upcoming) - time.monotonic()))
    return 0


def refuse(message: str) -> int:
    sys.stderr.write(message + "\n")
    return 2


def _file_chunks(path: Path):
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            yield chunk


def fetch(settings: Settings, source: str) -> int:
    """The plain dump of SOURCE on stdout (see the module's docstring)."""
    if source.startswith("/"):
        if not Path(source).is_file():
            return refuse(f"There is no file {source}.")
        name, chunks = Path(source).name, _file_chunks(Path(source))
    else:
        if not settings.bucket:
            return refuse("No bucket is configured: set BACKUP_S3_BUCKET (and its endpoint).")
        try:
            bucket = Bucket(settings)
            name = bucket.latest() if source == "latest" else source
            chunks = bucket.chunks(name)
            first = next(chunks, b"")
        except BucketError as error:
            return refuse(str(error))
        except (BotoCoreError, ClientError) as error:
            return refuse(f"The bucket {settings.bucket} cannot be read: {error}.")
        chunks = itertools.chain([first], chunks)
    first = next(chunks, b"")
    chunks = itertools.chain([first], chunks)
    out = sys.stdout.buffer
    if not first.startswith(AGE_HEADER):
        for chunk in chunks:
            out.write(chunk)
        out.flush()
        sys.stderr.write(f"fetched {name}\n")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        identity = Path(tmp) / "identity"
        identity.touch(mode=0o600)
        identity.write_bytes(sys.stdin.buffer.read())
        age = subprocess.Popen(
            ["age", "-d", "-i", str(identity)], stdin=subprocess.PIPE, stdout=out,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        assert age.stdin is not None and age.stderr is not None
        with contextlib.suppress(BrokenPipeError):
            for chunk in chunks:
                age.stdin.write(chunk)
            age.stdin.close()
        error = (age.stderr.read().decode(errors="replace").strip().splitlines() or [""])[0]
        if age.wait():
            return refuse(f"{name} cannot be decrypted with the key given ({error}).")
    sys.stderr.write(f"fetched and decrypted {name}\n")
    return 0


def health(settings: Settings) -> int:
    url = f"http://127.0.0.1:{settings.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=4) as response:
        return 0 if response.status == 200 else 1


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "run"
    service_logger(LOGGER.name, stream="stderr" if command == "fetch" else "stdout")
    settings = _settings()
    if command == "run":
        return run(settings)
    if command in {"backup", "verify"}:
        settings.directory.mkdir(mode=0o700, exist_ok=True)
        state = metrics.State(settings.directory / "state.json")
        return 0 if (backup if command == "backup" else verify_latest)(settings, state) else 1
    if command == "fetch" and len(argv) == 2:
        return fetch(settings, argv[1])
    if command == "health":
        return health(settings)
    sys.stderr.write(__doc__ or "")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
