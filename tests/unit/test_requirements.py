"""The supply chain's first link: every Python package the image or the test virtualenv installs
is pinned to one version and to the hashes of its files, and the generated lists agree with what
a person edits (requirements*.in)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)")

pytestmark = pytest.mark.unit


def entries(name: str) -> dict[str, tuple[str, list[str]]]:
    """Package -> (version, hashes) of a pip-compile'd file, whose entries span lines."""
    text = (ROOT / name).read_text()
    out: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=\S)", text):
        if block.startswith("#") or not block.strip():
            continue
        match = PIN.match(block)
        assert match, f"{name}: not an exact pin: {block.splitlines()[0]!r}"
        out[normal(match[1])] = (match[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return out


def normal(package: str) -> str:
    return re.sub(r"[-_.]+", "-", package).lower()


def direct(name: str) -> dict[str, str]:
    """Package -> version of the pins a person wrote in a .in file."""
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        match = PIN.match(re.sub(r"\[[^\]]*\]", "", line))
        if match:
            pins[normal(match[1])] = match[2]
    return pins


@pytest.mark.parametrize(
    "name",
    [
        "requirements.txt",
        "requirements-dev.txt",
        "requirements-mutation.txt",
        "acme/requirements.txt",
        "deploy/k8s/requirements.txt",
    ],
)
def test_every_package_is_pinned_with_its_files_hashes(name):
    listed = entries(name)
    assert len(listed) > 10
    unhashed = [package for package, (_, hashes) in listed.items() if not hashes]
    assert not unhashed, f"{name}: no hash for {unhashed}"


@pytest.mark.parametrize("name", ["backup/requirements.txt", "tests/fixtures/s3/requirements.txt"])
def test_the_backup_image_and_the_test_s3_server_pin_every_package_with_its_hashes(name):
    listed = entries(name)
    assert {"boto3", "botocore"} <= listed.keys()
    unhashed = [package for package, (_, hashes) in listed.items() if not hashes]
    assert not unhashed, f"{name}: no hash for {unhashed}"


@pytest.mark.parametrize(
    ("source", "generated"),
    [
        ("requirements.in", "requirements.txt"),
        ("requirements-dev.in", "requirements-dev.txt"),
        ("requirements-mutation.in", "requirements-mutation.txt"),
        ("acme/requirements.in", "acme/requirements.txt"),
        ("backup/requirements.in", "backup/requirements.txt"),
        ("tests/fixtures/s3/requirements.in", "tests/fixtures/s3/requirements.txt"),
        ("deploy/k8s/requirements.in", "deploy/k8s/requirements.txt"),
    ],
)
def test_the_generated_list_holds_each_direct_pin_at_its_version(source, generated):
    listed = entries(generated)
    wrong = {
        package: (version, listed.get(package, ("missing",))[0])
        for package, version in direct(source).items()
        if listed.get(package, ("missing",))[0] != version
    }
    assert not wrong, f"{generated} differs from {source} (run make requirements): {wrong}"


@pytest.mark.parametrize(
    ("base", "layer"),
    [
        ("requirements.txt", "requirements-dev.txt"),
        ("requirements-dev.txt", "requirements-mutation.txt"),
    ],
)
def test_each_layer_keeps_the_exact_versions_of_the_one_below(base, layer):
    below, above = entries(base), entries(layer)
    differ = {p: (below[p], above[p]) for p in below.keys() & above.keys() if below[p] != above[p]}
    assert not differ, f"{layer} differs from {base}: {differ}"


def test_the_test_virtualenv_holds_every_package_of_the_app():
    missing = entries("requirements.txt").keys() - entries("requirements-dev.txt").keys()
    assert not missing, missing


def test_the_image_and_the_virtualenv_install_with_hashes_required():
    hashed = r"pip install [^\n]*--require-hashes[^\n]*-r "
    # The Python services' images build their venv with one script, which requires hashes.
    assert re.search(hashed + r'"\$requirements"', (ROOT / "pyservice/build-venv.sh").read_text())
    for image in (".", "acme", "backup"):
        dockerfile = (ROOT / image / "Dockerfile").read_text()
        assert re.search(r"^RUN build-venv /tmp/requirements\.txt\b", dockerfile, re.M), image
    dockerfile = (ROOT / "tests/fixtures/s3/Dockerfile").read_text()
    assert re.search(hashed + r"/tmp/requirements\.txt", dockerfile)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(hashed + r"requirements-dev\.txt", makefile)
    # pip itself first, pinned and hashed: the pip a Python bundles may refuse the dev list.
    pip_first = re.search(
        hashed + r"requirements-pip\.txt\n[^\n]*" + hashed + r"requirements-dev", makefile
    )
    assert pip_first, "the Makefile does not install the pinned pip before requirements-dev.txt"
    [(package, (_, hashes))] = entries("requirements-pip.txt").items()
    assert package == "pip" and hashes


def test_the_k8s_tools_virtualenv_installs_pip_then_its_hashed_list():
    tools = entries("deploy/k8s/requirements.txt")
    assert {"checkov", "kubernetes-validate", "pytest"} <= tools.keys()
    script = (ROOT / "deploy/k8s/validate.sh").read_text()
    hashed = r"pip install [^\n]*--require-hashes[^\n]*\n\s*-r "
    pip_first = re.search(
        hashed + r"requirements-pip\.txt\n[^\n]*" + hashed + r"deploy/k8s/requirements\.txt",
        script,
    )
    assert pip_first, "validate.sh does not install the pinned pip, then the hashed tools"
    makefile = (ROOT / "Makefile").read_text()
    compiled = makefile[makefile.index("\nrequirements:") :].split("\n\n", 1)[0]
    assert "deploy/k8s/requirements;" in compiled, "make requirements leaves the k8s tools out"


def test_the_bench_peer_image_pins_granian_with_its_hashes_and_installs_them_required():
    listed = entries("bench/peers/requirements.txt")
    assert "granian" in listed
    unhashed = [package for package, (_, hashes) in listed.items() if not hashes]
    assert not unhashed, f"bench/peers/requirements.txt: no hash for {unhashed}"
    wrong = {p: v for p, v in direct("bench/peers/requirements.in").items() if listed[p][0] != v}
    assert not wrong, f"bench/peers/requirements.txt differs from its .in: {wrong}"
    dockerfile = (ROOT / "bench" / "peers" / "Dockerfile").read_text()
    assert re.search(r"pip install [^\n]*--require-hashes[^\n]*\n[^\n]*-r /tmp/req", dockerfile)
