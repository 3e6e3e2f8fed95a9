#!/usr/bin/env bash
# Print the Python base image as compose.yaml resolves it (images.env, .env and the environment
# applied): every image built on Python (app, bench, k8s tools) uses this one.
set -euo pipefail
"$(dirname "$0")/compose.sh" config --format json \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["services"]["app"]["build"]["args"]["PYTHON_IMAGE"])'
