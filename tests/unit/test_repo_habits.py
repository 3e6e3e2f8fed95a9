"""The habits a fork inherits: local hooks that pass on the tree with no network, a GitHub
Actions workflow and a Renovate configuration that their schemas accept and that cover what
the issue names (docs/development.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
RENOVATE = ROOT / "renovate.json"
HOOKS = ROOT / ".pre-commit-config.yaml"


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with its vendored schema: no network."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_workflow_passes_githubs_workflow_schema():
    result = check_jsonschema("vendor.github-workflows", WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_workflow_fails_the_schema_check(tmp_path):
    broken = tmp_path / "ci.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:", 1))
    assert check_jsonschema("vendor.github-workflows", broken).returncode == 1


def test_the_workflow_runs_make_test_the_dev_and_swarm_suites_with_upstream_images():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    runs = {
        name: [step.get("run", "") for step in job["steps"]]
        for name, job in workflow["jobs"].items()
    }
    everything = [command for commands in runs.values() for command in commands]
    for command in ("make test", "make test-dev", "make test-swarm"):
        assert command in everything, command
    # Upstream images: nothing writes images.env (the stand-ins) on the hosted runner.
    assert "images.env" not in WORKFLOW.read_text()
    for job in workflow["jobs"].values():
        assert job["runs-on"].startswith("ubuntu-"), "Docker comes with GitHub's Ubuntu runners"
        assert job["timeout-minutes"] <= 90


def test_the_renovate_configuration_passes_its_schema():
    result = check_jsonschema("vendor.renovate", RENOVATE)
    assert result.returncode == 0, result.stdout + result.stderr


def js_regex(pattern: str) -> re.Pattern[str]:
    """A Renovate (JavaScript) regex with named groups, in Python."""
    return re.compile(pattern.replace("(?<", "(?P<"))


def file_pattern_matches(patterns: list[str], path: str) -> bool:
    return any(re.search(pattern.strip("/"), path) for pattern in patterns)


def test_renovate_covers_the_python_pins_the_image_defaults_and_the_actions():
    config = json.loads(RENOVATE.read_text())
    assert "fileMatch" not in RENOVATE.read_text(), "Renovate reads managerFilePatterns now"
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split() or [str(p.relative_to(ROOT)) for p in ROOT.rglob("requirements*.in")]
    # The .in files, where the pins a person edits are (acme/ too).
    inputs = [path for path in tracked if re.search(r"(^|/)requirements[^/]*\.in$", path)]
    assert len(inputs) >= 4, inputs
    patterns = config["pip_requirements"]["managerFilePatterns"]
    assert all(file_pattern_matches(patterns, path) for path in inputs), inputs
    # Every image default of compose.yaml, from which every Dockerfile takes its base image.
    compose = (ROOT / "compose.yaml").read_text()
    defaults = re.findall(r"\$\{[A-Z0-9_]+_IMAGE:-[^}]+\}", compose)
    assert len(defaults) >= 9, defaults
    [manager] = [m for m in config["customManagers"] if file_pattern_matches(
        m["managerFilePatterns"], "compose.yaml")]  # fmt: skip
    assert manager["datasourceTemplate"] == "docker"
    found = {}
    for pattern in manager["matchStrings"]:
        for match in js_regex(pattern).finditer(compose):
            found[match.group(0)] = (match["depName"], match["currentValue"])
    assert set(defaults) <= set(found), set(defaults) - set(found)
    assert "python" in {name for name, _ in found.values()}
    for dockerfile in ("Dockerfile", "nginx/Dockerfile", "acme/Dockerfile"):
        text = (ROOT / dockerfile).read_text()
        base_args = re.findall(r"^FROM \$\{([A-Z_]+)\}", text, flags=re.M)
        assert base_args, dockerfile
        for arg in base_args:
            assert f"{arg}:-" in compose, f"{dockerfile}'s {arg} has no default in compose.yaml"
    # The workflow's actions: Renovate's github-actions manager, on unless switched off.
    assert config.get("github-actions", {}).get("enabled", True) is True
    assert "helpers:pinGitHubActionDigests" in config["extends"]


def test_the_hooks_are_local_and_run_from_the_virtualenv():
    config = yaml.safe_load(HOOKS.read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    hooks = {hook["id"]: hook for hook in config["repos"][0]["hooks"]}
    assert {"ruff", "ruff-format", "shellcheck", "check-yaml", "unit-fast"} <= set(hooks)
    for hook in hooks.values():
        assert hook["language"] == "system", hook["id"]
        assert hook["entry"].startswith(".venv/bin/"), hook["id"]
    assert '-m "unit and not slow"' in hooks["unit-fast"]["entry"]
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", str(HOOKS)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def no_network() -> list[str]:
    """A command prefix that runs its command in a new network namespace (loopback only)."""
    return ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--net"]


@pytest.mark.slow
def test_the_hooks_pass_on_the_tree_with_no_network(tmp_path):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (pre-commit runs on git's files)")
    assert (ROOT / ".venv" / "bin" / "pre-commit").exists(), "the hooks run from .venv: make venv"
    probe = subprocess.run([*no_network(), "python3", "-c",
        "import socket; socket.create_connection(('pypi.org', 443), timeout=3)"],
        capture_output=True, text=True, timeout=30)  # fmt: skip
    assert probe.returncode != 0, "the namespace still reaches the network"
    # The unit-test hook runs the suite this test is part of: run here it would prove nothing
    # new and cost a minute. Its command is `make test-fast`'s (checked below).
    result = subprocess.run(
        [*no_network(), str(ROOT / ".venv" / "bin" / "pre-commit"), "run", "--all-files",
         "--show-diff-on-failure", "--color=never"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
             "SKIP": "unit-fast"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for hook in ("ruff check", "ruff format", "shellcheck", "YAML parses"):
        assert re.search(rf"^{re.escape(hook)}.*Passed$", result.stdout, flags=re.M), hook
    assert re.search(r"^unit tests.*Skipped$", result.stdout, flags=re.M), result.stdout


def test_the_unit_test_hook_runs_make_test_fasts_tests():
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    [entry] = [
        h["entry"] for repo in hooks["repos"] for h in repo["hooks"] if h["id"] == "unit-fast"
    ]
    recipe = re.search(r"^test-fast:.*\n\t(.*)$", (ROOT / "Makefile").read_text(), re.M)[1]
    selection = re.search(r'-m "[^"]+"', recipe)[0]
    assert entry.startswith(".venv/bin/pytest") and selection in entry and "tests/unit" in entry


def test_ci_runs_every_part_of_make_test_in_its_order():
    """.ci/run times `make test`'s parts one by one: exactly its prerequisites, in order."""
    makefile = (ROOT / "Makefile").read_text()
    parts = re.search(r"^test: ([^#\n]*)##", makefile, re.M)[1].split()
    ci = (ROOT / ".ci" / "run").read_text()
    ran = re.findall(r'^phase "[^"]*" make ([a-z0-9-]+)$', ci, re.M)
    assert ran[: len(parts) + 1] == ["check-docker", *parts], ran
