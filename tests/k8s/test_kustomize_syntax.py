"""Current kustomize syntax: no deprecated field, and a deprecated field or a renderer's warning
is caught."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


def test_no_kustomization_uses_a_deprecated_field(kv):
    assert len(kv.kustomization_files()) == 1 + len(kv.OVERLAYS)
    assert kv.deprecated_field_problems() == []


def _put_back_bases(tree: Path) -> None:
    """The local overlay of a staged tree naming its base the old way, with `bases:`."""
    local = tree / "overlays/local/kustomization.yaml"
    text = local.read_text()
    assert "resources:\n  - ../../base\n" in text
    local.write_text(text.replace("resources:\n  - ../../base\n", "bases:\n  - ../../base\n"))


@pytest.mark.parametrize("field", ["bases", "patchesStrategicMerge", "commonLabels", "vars"])
def test_a_deprecated_field_is_caught(kv, tmp_path, field):
    tree = kv.stage_tree(tmp_path)
    if field == "bases":
        _put_back_bases(tree)
    else:
        local = tree / "overlays/local/kustomization.yaml"
        local.write_text(local.read_text() + f"{field}: []\n")
    new = kv.DEPRECATED_FIELDS[field]
    assert kv.deprecated_field_problems(tree) == [
        f"overlays/local/kustomization.yaml: `{field}` is deprecated (use `{new}`)"
    ]


def test_a_generators_deprecated_env_is_caught(kv, tmp_path):
    tree = kv.stage_tree(tmp_path)
    base = tree / "base/kustomization.yaml"
    base.write_text(
        base.read_text().replace("  - name: db-env\n", "  - name: db-env\n    env: x\n")
    )
    (problem,) = kv.deprecated_field_problems(tree)
    assert problem.endswith("configMapGenerator db-env: `env` is deprecated (use `envs`)")


def test_a_renderer_warning_fails_the_rendering(kv, tmp_path):
    # kustomize 5 still renders `bases`, with a warning: the warning alone fails the rendering.
    renderer = kv.choose_renderers()[0]
    if not shutil.which(renderer):
        pytest.skip(f"no {renderer} on PATH")
    tree = kv.stage_tree(tmp_path)
    _put_back_bases(tree)
    with pytest.raises(RuntimeError, match="'bases' is deprecated"):
        kv.render("local", renderer, tree)
