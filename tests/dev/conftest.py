"""Fixtures for the `make dev` tests (`make test-dev`): the stack in development mode, over its
published ports. A stack found in production mode (`make up`) is switched to `make dev` for the
session and back to `make up` afterwards, so CI runs this after the e2e suite on the same stack
and leaves it as it found it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.support.edge import exit_unless_reachable
from tests.support.settings import PROJECT, ROOT
from tests.support.stack import inspect

DEV_IMAGE = f"{PROJECT}/app:dev"


def make(target: str) -> None:
    result = subprocess.run(["make", "-s", target], cwd=ROOT, capture_output=True, text=True,
                            timeout=900)  # fmt: skip
    output = result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, f"make {target} failed:\n{output}"


def in_dev_mode() -> bool:
    return bool(inspect("app")["Config"]["Image"] == DEV_IMAGE)


@pytest.fixture(scope="session", autouse=True)
def dev_stack() -> Iterator[None]:
    """The stack under `make dev`; put back under `make up` if that is how it was found."""
    exit_unless_reachable("`make dev` (or `make up`)")
    switched = not in_dev_mode()
    if switched:
        make("dev")
    assert in_dev_mode(), "the app does not run the development image after `make dev`"
    try:
        yield
    finally:
        if switched:
            make("up")
