"""Fingerprinted assets, in the detail mutation testing asked for: the command line in-process,
what a build leaves out, the exact manifest and gzip bytes, and how publish copies."""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from app import assets
from app.assets import build, load_manifest, make_asset_url, publish

pytestmark = pytest.mark.unit


def source_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_command_line_builds_then_publishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = source_tree(tmp_path / "src", {"css/site.css": "body {}", "app.js": "let a;"})
    built, served = tmp_path / "built", tmp_path / "served"
    assert assets.main(["build", str(src), str(built)]) == 0
    assert capsys.readouterr().out == f"fingerprinted 2 files into {built}\n"
    assert set(load_manifest(built / "manifest.json")) == {"css/site.css", "app.js"}
    assert assets.main(["publish", str(built), str(served)]) == 0
    published = f"published {built} into {served}; removed 0 stale files\n"
    assert capsys.readouterr().out == published
    assert (served / "css/site.css").read_text() == "body {}"


@pytest.mark.parametrize(
    "args",
    [[], ["build", "a"], ["build", "a", "b", "c"], ["copy", "a", "b"], ["BUILD", "a", "b"]],
)
def test_the_command_line_prints_its_usage_on_bad_arguments(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert assets.main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == assets.USAGE + "\n"


@pytest.mark.parametrize("command", ["build", "publish"])
def test_the_command_line_refuses_a_missing_source(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing, out = tmp_path / "missing", tmp_path / "out"
    assert assets.main([command, str(missing), str(out)]) == 2
    assert capsys.readouterr().err == f"error: {missing} is not a directory\n"
    assert not out.exists()


def test_a_build_leaves_out_hidden_and_compressed_files(tmp_path: Path) -> None:
    src = source_tree(
        tmp_path / "src",
        {"site.css": "a", ".hidden.css": "b", ".git/config": "c", "old.css.gz": "d"},
    )
    assert set(build(src, tmp_path / "out")) == {"site.css"}


def test_a_build_creates_missing_parent_directories(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "deep" / "er" / "out"
    assert build(empty, out) == {}
    assert (out / "manifest.json").read_text() == "{}\n"


def test_the_manifest_is_sorted_indented_json_ending_in_a_newline(tmp_path: Path) -> None:
    # Paths sort "css/site.css" first, strings sort "css-extra.css" first.
    src = source_tree(tmp_path / "src", {"css/site.css": "a", "css-extra.css": "b"})
    manifest = build(src, tmp_path / "out")
    text = (tmp_path / "out" / "manifest.json").read_text()
    assert text == json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    assert text.index('"css-extra.css"') < text.index('"css/site.css"')
    assert '\n  "css-extra.css": ' in text


def test_gzip_files_carry_no_name_and_no_time(tmp_path: Path) -> None:
    css = "body { color: red; }" * 20
    src = source_tree(tmp_path / "src", {"site.css": css})
    out = tmp_path / "out"
    build(src, out)
    raw = (out / "site.css.gz").read_bytes()
    assert gzip.decompress(raw).decode() == css
    flags, mtime, extra_flags = raw[3], raw[4:8], raw[8]
    assert flags == 0  # no file name (nor comment, nor extra field)
    assert mtime == bytes(4)
    assert extra_flags == 2  # compressed at level 9


def test_publish_copies_files_named_after_the_manifest_and_removes_those_after_a_kept_one(
    tmp_path: Path,
) -> None:
    src = source_tree(tmp_path / "src", {"app.css": "a", "robots.txt": "r", "zz.css": "z"})
    built, served = tmp_path / "built", tmp_path / "served"
    build(src, built)
    source_tree(served, {"aa-stale.css": "x", "zz-stale.css": "y"})
    removed = publish(built, served)
    assert (served / "robots.txt").read_text() == "r"
    assert (served / "zz.css").read_text() == "z"
    assert sorted(removed) == ["aa-stale.css", "zz-stale.css"]


def test_published_files_are_world_readable_and_made_beside_their_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = source_tree(tmp_path / "src", {"site.css": "a"})
    built, served = tmp_path / "built", tmp_path / "served"
    build(src, built)
    # The system's temporary directory is elsewhere (another filesystem in the assets job).
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-dir"))
    publish(built, served)
    assert (served / "site.css").stat().st_mode & 0o777 == 0o644
    assert not [p for p in served.rglob("*") if p.name.startswith(".publish-")]


def test_a_copy_that_fails_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = source_tree(tmp_path / "src", {"site.css": "a"})
    built, served = tmp_path / "built", tmp_path / "served"
    build(src, built)

    def disk_full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", disk_full)
    with pytest.raises(OSError, match="No space left"):
        publish(built, served)
    assert list(served.rglob("*")) == []


def test_asset_url_strips_only_leading_slashes() -> None:
    asset_url = make_asset_url({})
    assert asset_url("//X-logo.svg") == "/static/X-logo.svg"
