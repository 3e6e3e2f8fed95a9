#!/usr/bin/env bash
# `make mutation`: mutation-test app/ with the unit tests and print the score per module.
# mutmut's settings (what it mutates, which tests, what it copies) are [tool.mutmut] in
# pyproject.toml; docs/mutation.md explains the run and its last results.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}  # the test virtualenv, as make passes it

# mutmut and its pinned dependencies, installed into the test virtualenv when either changed.
stamp=$venv/.mutation-installed
if [[ ! -e $stamp || requirements-mutation.txt -nt $stamp || $venv/.installed -nt $stamp ]]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
        -r requirements-mutation.txt
    touch "$stamp"
fi

# mutmut keeps its verdicts in mutants/ and would not re-test a survivor that a new test kills:
# start from a fresh copy so the score is the code's and the tests' of today.
rm -rf mutants
# The unit tests' Postgres runs the stack's image, which Compose resolves here (images.env, .env);
# mutants/ has neither, so the image is named for it.
TEST_POSTGRES_IMAGE=$("$venv/bin/python" -c 'from tests.support.postgres import image; print(image())')
export TEST_POSTGRES_IMAGE
started=$SECONDS
"$venv/bin/mutmut" run --max-children "$(nproc)"
elapsed=$((SECONDS - started))

"$venv/bin/python" - "$elapsed" <<'PY'
import json
import sys
from pathlib import Path

from mutmut.stats import status_by_exit_code

# A mutant counts as killed when a test failed on it, or when it made the tests hang.
DETECTED = {"killed", "timeout"}
rows = []
for meta in sorted(Path("mutants/app").rglob("*.py.meta")):
    codes = json.loads(meta.read_text())["exit_code_by_key"].values()
    statuses = [status_by_exit_code[code] for code in codes]
    if statuses:
        killed = sum(status in DETECTED for status in statuses)
        rows.append((str(meta.relative_to("mutants"))[: -len(".meta")], killed, len(statuses)))
total = sum(row[2] for row in rows)
killed = sum(row[1] for row in rows)
print()
print(f"{'module':<24} {'killed':>7} {'mutants':>8} {'score':>7}")
for name, k, n in rows + [("overall", killed, total)]:
    print(f"{name:<24} {k:>7} {n:>8} {100 * k / n:>6.1f}%")
minutes, seconds = divmod(int(sys.argv[1]), 60)
print(f"\nMutation testing took {minutes} min {seconds} s. The survivors: .venv/bin/mutmut results")
PY
