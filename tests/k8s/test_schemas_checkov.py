"""The rendered objects pass strict schema validation and checkov, and both catch a breakage
(they need the tools virtualenv: make k8s-validate)."""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.k8s.manifests import containers, find

pytestmark = pytest.mark.unit


def test_objects_pass_strict_schema_validation(overlay, kv):
    pytest.importorskip("kubernetes_validate")
    _, docs = overlay
    assert kv.schema_problems(docs) == []


def test_strict_schema_validation_catches_an_unknown_field(rendered, kv):
    pytest.importorskip("kubernetes_validate")
    docs = copy.deepcopy(rendered["local"])
    find(docs, "Deployment", "app")["spec"]["replica"] = 3
    assert any("Deployment/app" in p for p in kv.schema_problems(docs))


def test_checkov_passes_and_catches_privileged(rendered, kv, tmp_path):
    pytest.importorskip("checkov")
    clean = tmp_path / "clean.yaml"
    clean.write_text(yaml.safe_dump_all(rendered["production"]))
    assert kv.checkov_problems(clean) == []
    docs = copy.deepcopy(rendered["production"])
    containers(docs)["nginx"]["securityContext"]["privileged"] = True
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump_all(docs))
    problems = kv.checkov_problems(broken)
    assert any(p.startswith("checkov CKV_K8S_16:") and "nginx" in p for p in problems), problems
