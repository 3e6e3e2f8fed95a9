"""Fixtures for the Kubernetes manifest tests: the rendered overlays, once per session."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# deploy/k8s/tools is no package: k8s_validate.py and the step modules beside it import each
# other by their plain names, as when it runs as a script.
sys.path.insert(0, str(ROOT / "deploy/k8s/tools"))
import k8s_validate  # noqa: E402


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
