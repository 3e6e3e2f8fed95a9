"""docs/forking.md, followed on a copy of the tree: its `sh` blocks run, its `python file=...`
blocks written, its `diff` blocks applied, in order; the unit tests pass in the copy, the new
blueprint's among them, once it is added and again once the items example is removed. A guide
that no longer fits the code fails here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import postgres

pytestmark = [pytest.mark.unit, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "forking.md"
BLOCK = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```$", re.S | re.M)


def steps() -> list[tuple[str, str]]:
    """(info string, body) of every fenced block of the guide, in order."""
    return [(m["info"].strip(), m["body"]) for m in BLOCK.finditer(GUIDE.read_text())]


def copy_of_the_tree(target: Path) -> None:
    """The tracked files, with their times (make compares them with the virtualenv's stamp),
    and the virtualenv itself linked, not copied."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                            check=False)  # fmt: skip
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the copy is of git's files")
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(ROOT / ".venv")


def run(
    command: list[str], cwd: Path, tests: str = "", **kwargs
) -> subprocess.CompletedProcess[str]:
    # The copy's own settings only: none of this shell's Flask or database variables, and none
    # of an outer make's command line (MAKEFLAGS would carry its PYTEST_ARGS into the copy's).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FLASK_", "DATABASE_", "MAKE", "MFLAGS"))}  # fmt: skip
    # The copy's unit tests, less the slow ones (this test among them).
    env["PYTEST_ARGS"] = f'-v -m "unit and not slow" -p no:cacheprovider {tests}'.strip()
    # The copy's Postgres (its unit tests', its migration's): this tree's image, which the
    # copy's images.env-less, renamed Compose files would not find.
    env["TEST_POSTGRES_IMAGE"] = postgres.image()
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, **kwargs)  # fmt: skip


def test_the_guide_has_runnable_steps_of_each_kind():
    kinds = [info.split()[0] if info else "" for info, _ in steps()]
    assert kinds.count("sh") >= 4 and "diff" in kinds and "python" in kinds, kinds
    for info, _ in steps():
        assert info.split()[0] in {"sh", "diff", "python"}, (
            f"a block the test cannot follow: {info}"
        )
        if info.startswith("python"):
            assert re.fullmatch(r"python file=\S+", info), info


def test_following_the_guide_on_a_copy_gives_a_renamed_tree_whose_unit_tests_pass(tmp_path):
    tree = tmp_path / "fork"
    tree.mkdir()
    copy_of_the_tree(tree)
    # Every unit test runs once, at the guide's last `make test-unit` (the notes' among them,
    # without the example); an earlier one runs the notes' tests alone, as the suite with the
    # example is this repository's own.
    last = max(n for n, (info, body) in enumerate(steps(), 1) if "make test-unit" in body)
    for number, (info, body) in enumerate(steps(), 1):
        where = f"block {number} of docs/forking.md ({info})"
        if info == "sh":
            tests = "" if number == last else "-k test_notes"
            result = run(["bash", "-euo", "pipefail", "-c", body], tree, tests)
        elif info == "diff":
            result = run(["git", "apply", "--verbose", "-"], tree, input=body)
        else:
            path = tree / info.split("=", 1)[1]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
            continue
        assert result.returncode == 0, (
            f"{where} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
        if "make test-unit" in body:
            assert re.search(r"\d+ passed", result.stdout), result.stdout[-2000:]
            for test in ("created_then_listed", "longer_than_the_setting"):
                # pytest -v names the test, then its outcome; under pytest-xdist the other
                # way round.
                name = rf"test_notes\.py::test_a_note\w*{test}\w*"
                assert re.search(rf"{name} PASSED|PASSED \S*{name}", result.stdout), test
    # The rename reached everything, and the new blueprint, setting and migration are there.
    leftover = run(["grep", "-rl", "--exclude-dir=.venv", "-e", "flask-stack", "-e", "flaskstack",
                    "."], tree).stdout  # fmt: skip
    assert leftover == "", leftover
    assert "notes-service" in (tree / "compose.yaml").read_text()
    [migration] = list((tree / "app" / "migrations" / "versions").glob("*_notes.py"))
    assert "create_table" in migration.read_text() and '"notes"' in migration.read_text()
    assert "NOTES_MAX_LENGTH" in (tree / ".env.example").read_text()
    # The example is gone, with its tests, and a migration drops its tables.
    assert not (tree / "app" / "items").exists() and not (tree / "app" / "imports").exists()
    [removal] = list((tree / "app" / "migrations" / "versions").glob("*_remove_items_example.py"))
    assert 'drop_table("items")' in removal.read_text()
    needing = run(["grep", "-rlE", r"(from|import) app\.(items|imports)\b", "tests/unit",
                   "tests/contract"], tree).stdout  # fmt: skip
    assert needing == "", needing
    # The last step ran the unit tests (make test-unit) with the notes' tests among them.
    assert any("make test-unit" in body for info, body in steps() if info == "sh")
