"""The images the suites build besides the stack's own: one function each, built once a run.

`python -m tests.support.images` builds them all at once, in parallel, before the suites run
(`make e2e-stack`), so no test waits on a cold build of its tool; a test then finds its image in
Docker's build cache within a second or two.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import subprocess
import sys
import time

from .settings import PROJECT, ROOT
from .stack import compose

SUPPORT = ROOT / "tests" / "support"
RSYSLOG = "flask-stack-tests/rsyslog:local"
TLS_SCANNERS = "flask-stack/tls-scanners:local"
# The Pebble overlay of the ACME tests, and the S3 server of the off-site backup tests, each a
# Compose project of its own (tests/fixtures/pebble/, tests/fixtures/s3/).
PEBBLE_OVERLAY = ROOT / "tests" / "fixtures" / "pebble" / "compose.pebble.yaml"
S3_PROJECT = f"{PROJECT}-s3test"
S3_COMPOSE = ("-p", S3_PROJECT, "-f", "tests/fixtures/s3/compose.s3.yaml")


@functools.cache
def python_image() -> str:
    """The stack's Python base image (images.env, .env and compose.yaml applied)."""
    script = str(ROOT / "scripts" / "python-image.sh")
    return subprocess.run([script], capture_output=True, text=True, check=True).stdout.strip()


def _from_dockerfile(dockerfile: str, tag: str, folder=SUPPORT) -> str:
    """A Dockerfile (of tests/support unless told) built on the stack's Python image, with no
    context."""
    subprocess.run(
        ["docker", "build", "-q", "--build-arg", f"PYTHON_IMAGE={python_image()}", "-t", tag, "-"],
        input=(folder / dockerfile).read_bytes(), capture_output=True, check=True, timeout=900,
    )  # fmt: skip
    return tag


@functools.cache
def rsyslog() -> str:
    """A real rsyslog (Debian's package) receiving on TCP: tests/e2e/test_logs.py."""
    return _from_dockerfile("rsyslog.Dockerfile", RSYSLOG)


@functools.cache
def tls_scanners() -> str:
    """sslscan and testssl.sh (Debian's packages): tests/e2e/test_tls_scan.py."""
    return _from_dockerfile("tls_scanners.Dockerfile", TLS_SCANNERS)


@functools.cache
def pebble() -> None:
    """Pebble, the ACME CA of tests/e2e/test_acme.py."""
    from .acme import with_pebble

    with_pebble("build", "pebble", timeout=900)


@functools.cache
def s3() -> None:
    """moto's S3 server, the bucket of tests/e2e/test_offsite_backups.py."""
    compose(*S3_COMPOSE, "build", env={"COMPOSE_PROJECT_NAME": PROJECT}, timeout=900)


@functools.cache
def backup() -> None:
    """The stack's backup service, in its profile (`make up` does not build it)."""
    compose("--profile", "backup", "build", "backup", timeout=900)


def k8s_tools() -> str:
    """kustomize for `make k8s-validate`, which builds it again from Docker's cache: built here,
    its cold build (apt) runs before the exclusive end-to-end tests, not beside them."""
    tag = os.environ.get("K8S_TOOLS_IMAGE", "flask-stack-k8s-tools:local")
    return _from_dockerfile("Dockerfile.tools", tag, ROOT / "deploy" / "k8s")


def bench() -> None:
    """The benchmark's load generator and its peers' image (bench/bench.py builds them)."""
    subprocess.run([sys.executable, str(ROOT / "bench" / "bench.py"), "--build-only"],
                   cwd=ROOT, capture_output=True, check=True, timeout=900)  # fmt: skip


ALL = (rsyslog, tls_scanners, pebble, s3, backup, k8s_tools, bench)


def main() -> int:
    """Build every image at once; print how long each took; fail if one failed."""
    begun = time.monotonic()

    def timed(build) -> tuple[str, float]:
        started = time.monotonic()
        build()
        return build.__name__, time.monotonic() - started

    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(ALL)) as pool:
        futures = {pool.submit(timed, build): build.__name__ for build in ALL}
        for future in concurrent.futures.as_completed(futures):
            try:
                name, seconds = future.result()
                print(f"test images: {name} in {seconds:.0f} s", flush=True)
            except subprocess.CalledProcessError as error:
                failed += 1
                output = (error.stderr or b"")[-2000:]
                text = output.decode(errors="replace") if isinstance(output, bytes) else output
                print(f"test images: {futures[future]} FAILED\n{text}", file=sys.stderr)
    print(f"test images: all built in {time.monotonic() - begun:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
