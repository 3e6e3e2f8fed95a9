"""The images the bench builds on the stack's own: the load generator's and the peers'."""

from __future__ import annotations

from bench.command import BENCH_DIR, ROOT, run


def python_image() -> str:
    """The stack's Python base image, as compose.yaml and images.env name it."""
    return run([str(ROOT / "scripts" / "python-image.sh")]).stdout.strip()


def build_loadgen(project: str, base_image: str) -> str:
    tag = f"{project}/bench:local"
    cmd = ["docker", "build", "-q", "-t", tag, "--build-arg", f"PYTHON_IMAGE={base_image}"]
    run([*cmd, str(BENCH_DIR)], timeout=600)
    return tag


def build_peers_image(project: str, base_image: str) -> str:
    """bench/peers/Dockerfile on the stack's app image: Granian and the bare Flask app."""
    tag = f"{project}/bench-peers:local"
    cmd = ["docker", "build", "-q", "-t", tag, "--build-arg", f"PYTHON_IMAGE={base_image}",
           "--build-arg", f"APP_IMAGE={project}/app:local"]  # fmt: skip
    run([*cmd, str(BENCH_DIR / "peers")], timeout=900)
    return tag
