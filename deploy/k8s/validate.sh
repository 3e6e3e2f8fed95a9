#!/usr/bin/env bash
# make k8s-validate: render the overlays with kustomize 5 (Debian 13's package, in a tools image
# built on the stack's Python image: deploy/k8s/Dockerfile.tools) and/or a kubectl on PATH, check
# them offline (schemas, hardening, checkov), then run tests/k8s. The tools live in their own
# virtualenv, deploy/k8s/.venv. K8S_RENDERER=docker|kubectl|all forces the renderers;
# K8S_TOOLS_IMAGE names the tools image (flask-stack-k8s-tools:local).
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-python3}
venv=deploy/k8s/.venv
export K8S_TOOLS_IMAGE=${K8S_TOOLS_IMAGE:-flask-stack-k8s-tools:local}

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "Python 3.11 or newer is needed for the k8s tools virtualenv."; exit 1; }
# Pinned with the hashes of their files (deploy/k8s/requirements.in -> requirements.txt, `make
# requirements`). pip itself first, pinned and hashed as for .venv: the pip a Python bundles
# (23.2 with 3.11) may refuse a hashed list. Reinstalled whenever either list changes.
if ! cmp -s deploy/k8s/requirements.txt "$venv/requirements.txt" \
    || ! cmp -s requirements-pip.txt "$venv/requirements-pip.txt"; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
    -r requirements-pip.txt
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
    -r deploy/k8s/requirements.txt
  cp requirements-pip.txt deploy/k8s/requirements.txt "$venv/"
fi

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  docker build --quiet --build-arg PYTHON_IMAGE="$(scripts/python-image.sh)" \
    -t "$K8S_TOOLS_IMAGE" - < deploy/k8s/Dockerfile.tools >/dev/null
  if command -v kubectl >/dev/null 2>&1; then renderer=all; else renderer=docker; fi
elif command -v kubectl >/dev/null 2>&1; then
  renderer=kubectl
else
  echo "k8s-validate needs Docker (for the kustomize tools image) or kubectl on PATH."
  exit 1
fi
export K8S_RENDERER=${K8S_RENDERER:-$renderer}
echo "k8s-validate: renderer $K8S_RENDERER"
"$venv/bin/python" deploy/k8s/tools/k8s_validate.py
# shellcheck disable=SC2086
"$venv/bin/python" -m pytest -m unit tests/k8s -p no:cacheprovider ${PYTEST_ARGS:-}
