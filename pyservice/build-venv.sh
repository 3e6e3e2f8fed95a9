#!/bin/sh
# The virtualenv of every Python service's image (Dockerfile, acme/Dockerfile,
# backup/Dockerfile), built the same way in each one's `build` stage:
#   build-venv.sh REQUIREMENTS [PACKAGE...]
# /opt/venv with REQUIREMENTS installed, every file checked against its hash; then pip and the
# PACKAGEs, needed only here, uninstalled (the runtime stages copy /opt/venv without them),
# and the whole compiled once.
set -eu
requirements=$1
shift
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
python -m venv /opt/venv
/opt/venv/bin/pip install --no-compile --require-hashes -r "$requirements"
/opt/venv/bin/pip uninstall -q -y pip "$@"
/opt/venv/bin/python -m compileall -q /opt/venv
