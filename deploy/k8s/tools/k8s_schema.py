"""Step 3 of `make k8s-validate` (k8s_validate.py): every rendered object against the
Kubernetes JSON schemas of KUBERNETES_VERSION, strict (kubernetes-validate ships the schemas)."""

from __future__ import annotations

from typing import Any

KUBERNETES_VERSION = "1.30.0"


def schema_problems(docs: list[dict[str, Any]], version: str = KUBERNETES_VERSION) -> list[str]:
    """Validate each object against the Kubernetes JSON schema, strict (no unknown fields)."""
    import kubernetes_validate

    problems = []
    for doc in docs:
        where = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.path)
            problems.append(f"{where}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{where}: no schema ({exc})")
    return problems
