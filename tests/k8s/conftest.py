"""Fixtures for the Kubernetes manifest tests: the rendered overlays, once per session."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "k8s_validate", ROOT / "deploy/k8s/tools/k8s_validate.py"
)
assert _spec is not None and _spec.loader is not None
k8s_validate = importlib.util.module_from_spec(_spec)
sys.modules["k8s_validate"] = k8s_validate
_spec.loader.exec_module(k8s_validate)


@pytest.fixture(scope="session")
def kv():
    return k8s_validate


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Each overlay rendered by the first renderer K8S_RENDERER selects (see k8s_validate)."""
    renderer = k8s_validate.choose_renderers()[0]
    if renderer == "kubectl" and not shutil.which("kubectl"):
        pytest.skip("no kubectl on PATH (make k8s-validate renders in the tools image)")
    if renderer == "docker" and not shutil.which("docker"):
        pytest.skip("no docker for the tools image")
    return {o: k8s_validate.render_overlay(o, renderer) for o in k8s_validate.OVERLAYS}


@pytest.fixture(params=["local", "production"])
def overlay(request, rendered) -> tuple[str, list[dict[str, Any]]]:
    return request.param, rendered[request.param]
