"""tools/pin_images.py: which references it pins and how, and that a failure changes nothing.
Resolution against a registry is not tried here (no registry answers on the CI machines)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("pin_images", ROOT / "tools" / "pin_images.py")
assert spec and spec.loader
pin_images = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pin_images)

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "ab" * 32
NEWER = "sha256:" + "cd" * 32


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("python:3.11-slim", ("registry-1.docker.io", "library/python", "3.11-slim")),
        ("prom/prometheus:v2.53.3", ("registry-1.docker.io", "prom/prometheus", "v2.53.3")),
        ("quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
         ("quay.io", "prometheuscommunity/postgres-exporter", "v0.15.0")),
        ("localhost:5000/team/app:1", ("localhost:5000", "team/app", "1")),
    ],
)  # fmt: skip
def test_references_are_split_by_docker_hubs_rules(reference, expected):
    assert pin_images.split(reference) == expected


def test_a_reference_without_a_tag_is_refused():
    with pytest.raises(pin_images.ResolveError):
        pin_images.split("localhost:5000/team/app")


def test_every_default_in_compose_yaml_is_pinned_and_a_pinned_one_moves():
    text = (ROOT / "compose.yaml").read_text()
    pinned, failures = pin_images.pin(text, lambda reference: DIGEST)
    assert not failures
    defaults = pin_images.DEFAULT.findall(pinned)
    assert len(defaults) >= 9
    assert all(digest == "@" + DIGEST for _, _, digest in defaults)
    again, _ = pin_images.pin(pinned, lambda reference: NEWER)
    assert "@" + DIGEST not in again and again.count("@" + NEWER) == len(defaults)
    assert again.replace(NEWER, DIGEST) == pinned


def test_what_cannot_be_resolved_is_reported_and_left_as_it_was():
    def resolver(reference: str) -> str:
        if reference.startswith("redis:"):
            raise pin_images.ResolveError(f"{reference}: unreachable")
        return DIGEST

    text = "a: ${REDIS_IMAGE:-redis:7.2.6-bookworm}\nb: ${NGINX_IMAGE:-nginx:1.27.3-bookworm}\n"
    pinned, failures = pin_images.pin(text, resolver)
    assert failures == ["redis:7.2.6-bookworm: unreachable"]
    assert "${REDIS_IMAGE:-redis:7.2.6-bookworm}" in pinned
    assert f"${{NGINX_IMAGE:-nginx:1.27.3-bookworm@{DIGEST}}}" in pinned
