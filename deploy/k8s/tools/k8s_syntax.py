"""Step 0 of `make k8s-validate` (k8s_validate.py): no kustomization uses a field kustomize 5
deprecates (DEPRECATED_FIELDS), so the manifests keep to current syntax."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from k8s_render import K8S_DIR

# The kustomization fields kustomize 5 deprecates (api/types/kustomization.go), each with the
# field that replaces it: it warns on every build that reads one, and `kustomize edit fix`
# rewrites them.
DEPRECATED_FIELDS = {
    "bases": "resources",
    "commonLabels": "labels",
    "imageTags": "images",
    "patchesJson6902": "patches",
    "patchesStrategicMerge": "patches",
    "vars": "replacements",
    "helmChartInflationGenerator": "helmCharts",
}
# In a configMapGenerator or secretGenerator entry.
DEPRECATED_GENERATOR_FIELDS = {"env": "envs"}
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomization_files(root: Path = K8S_DIR) -> list[Path]:
    """Every kustomization under root, hidden directories (.venv, .rendered) left out."""
    found = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        found.extend(Path(directory) / name for name in KUSTOMIZATION_NAMES if name in files)
    return found


def deprecated_field_problems(root: Path = K8S_DIR) -> list[str]:
    """Each deprecated field a kustomization under root uses, one line each."""
    files = kustomization_files(root)
    if not files:
        return [f"no kustomization under {root}"]
    problems = []
    for path in files:
        where = path.relative_to(root).as_posix()
        doc = yaml.safe_load(path.read_text()) or {}
        problems.extend(
            f"{where}: `{field}` is deprecated (use `{new}`)"
            for field, new in DEPRECATED_FIELDS.items()
            if field in doc
        )
        for generator in ("configMapGenerator", "secretGenerator"):
            for entry in doc.get(generator) or []:
                problems.extend(
                    f"{where}: {generator} {entry.get('name')}: `{field}` is deprecated "
                    f"(use `{new}`)"
                    for field, new in DEPRECATED_GENERATOR_FIELDS.items()
                    if field in entry
                )
    return problems
