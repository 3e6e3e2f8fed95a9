"""Render the kustomize overlays and check them offline: schemas, hardening, checkov.

Run by `make k8s-validate` (from the deploy/k8s/.venv virtualenv) and imported by tests/k8s.

0. No kustomization uses a field kustomize 5 deprecates (DEPRECATED_FIELDS): the manifests keep
   to current syntax, and a renderer's warning fails the rendering too.
1. The deploy/k8s/ tree is copied to a temporary directory and placeholder secret files (random
   values, a dummy PEM) are written into each overlay's secrets/ there: the work tree is never
   touched and no real secret is read.
2. Each overlay is rendered by one or more renderers:
     kubectl  `kubectl kustomize` with the kubectl on PATH (whatever version it is)
     docker   `kustomize build` with kustomize 5 from Debian 13's kustomize package, in the
              tools image built from deploy/k8s/Dockerfile.tools (no kubectl needed)
   K8S_RENDERER selects: `auto` (default: kubectl if on PATH, else docker), `kubectl`, `docker`
   or `all` (both, and their outputs must agree apart from generated-name hashes).
3. Every rendered object is validated against the Kubernetes JSON schemas of
   KUBERNETES_VERSION in strict mode (kubernetes-validate, which ships the schemas).
4. Our own hardening check (hardening_problems): every container of every pod template, and
   every Secret it reads (files only, only the keys listed, no mode bits for others).
5. checkov on the rendered manifests, all Kubernetes checks but CHECKOV_SKIPS.

Exit status 0 only when every step passed for every overlay and renderer.

This file is the command line and the order of the steps; each step is a module beside it:
k8s_syntax.py (0), k8s_render.py (1, 2), k8s_schema.py (3), k8s_hardening.py (4),
k8s_checkov.py (5). The names tests/k8s uses are all importable from here (__all__).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from k8s_checkov import CHECKOV_REQUIRED, CHECKOV_SKIPS, checkov_problems, checkov_results
from k8s_hardening import EXPECTED_UIDS, WRITABLE_PATHS, hardening_problems, pod_templates
from k8s_render import (
    K8S_DIR,
    OVERLAYS,
    SECRET_FILES,
    TLS_FILES,
    TOOLS_IMAGE,
    choose_renderers,
    load,
    normalised,
    render,
    render_overlay,
    renderer_version,
    stage_tree,
)
from k8s_schema import KUBERNETES_VERSION, schema_problems
from k8s_syntax import DEPRECATED_FIELDS, deprecated_field_problems, kustomization_files

__all__ = [
    "CHECKOV_REQUIRED",
    "CHECKOV_SKIPS",
    "DEPRECATED_FIELDS",
    "EXPECTED_UIDS",
    "K8S_DIR",
    "KUBERNETES_VERSION",
    "OVERLAYS",
    "SECRET_FILES",
    "TLS_FILES",
    "TOOLS_IMAGE",
    "WRITABLE_PATHS",
    "checkov_problems",
    "checkov_results",
    "choose_renderers",
    "deprecated_field_problems",
    "hardening_problems",
    "kustomization_files",
    "load",
    "normalised",
    "pod_templates",
    "render",
    "render_overlay",
    "schema_problems",
    "stage_tree",
]


def report(label: str, problems: list[str]) -> int:
    """Print one step's outcome and its problems, one line each; 1 if it failed."""
    status = "ok" if not problems else f"{len(problems)} problem(s)"
    print(f"{label}: {status}")
    for problem in problems:
        print(f"  - {problem}")
    return int(bool(problems))


def check_rendering(
    overlay: str, renderer: str, tree: Path, out: Path, checkov: bool
) -> tuple[list[dict[str, Any]] | None, int]:
    """Render one overlay with one renderer, write it to OUT and run each check on it: the
    parsed objects (None when rendering failed) and the count of failed steps."""
    label = f"{overlay} ({renderer})"
    start = time.monotonic()
    try:
        text = render(overlay, renderer, tree)
    except RuntimeError as exc:
        print(f"FAIL {label}: {exc}")
        return None, 1
    docs = load(text)
    manifest = out / f"{overlay}.{renderer}.yaml"
    manifest.write_text(text)
    steps: list[tuple[str, Callable[[], list[str]]]] = [
        ("schema", lambda: schema_problems(docs)),
        ("hardening", lambda: hardening_problems(docs)),
    ]
    if checkov:
        steps.append(("checkov", lambda: checkov_problems(manifest)))
    failures = sum(report(f"{label}: {step}", run()) for step, run in steps)
    print(f"{label}: {len(docs)} objects, {time.monotonic() - start:.1f}s, written to {manifest}")
    return docs, failures


def renderings_differ(overlay: str, rendered: dict[str, list[dict[str, Any]]]) -> int:
    """1 if the two renderers' outputs of an overlay differ apart from generated-name hashes."""
    first, second = (normalised(d) for d in rendered.values())
    differing = sorted(
        f"{kind}/{name}"
        for kind, name in first.keys() | second.keys()
        if first.get((kind, name)) != second.get((kind, name))
    )
    if differing:
        print(f"FAIL {overlay}: kubectl and docker renderings differ: {differing}")
        return 1
    print(f"{overlay}: kubectl and kustomize (docker) renderings agree")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renderer", help="auto | kubectl | docker | all (default K8S_RENDERER)")
    parser.add_argument("--out", type=Path, default=K8S_DIR / ".rendered")
    parser.add_argument("--no-checkov", action="store_true", help="skip the checkov step")
    args = parser.parse_args(argv)

    renderers = choose_renderers(args.renderer)
    for renderer in renderers:
        print(f"renderer {renderer}: {renderer_version(renderer)}")
    args.out.mkdir(parents=True, exist_ok=True)
    failures = report("kustomizations: deprecated fields", deprecated_field_problems())
    with tempfile.TemporaryDirectory(prefix="k8s-validate-") as tmp:
        tree = stage_tree(Path(tmp))
        for overlay in OVERLAYS:
            rendered: dict[str, list[dict[str, Any]]] = {}
            for renderer in renderers:
                docs, failed = check_rendering(
                    overlay, renderer, tree, args.out, not args.no_checkov
                )
                failures += failed
                if docs is not None:
                    rendered[renderer] = docs
            if len(rendered) == 2:
                failures += renderings_differ(overlay, rendered)
    print("k8s-validate: " + ("passed" if not failures else f"FAILED ({failures})"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
