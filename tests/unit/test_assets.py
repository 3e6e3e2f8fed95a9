"""Fingerprinted assets: the build script and its command line, what a build leaves out, the
exact manifest and gzip bytes, how publish copies, and asset_url."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from app import PACKAGE_DIR, assets
from app.assets import build, fingerprinted_name, load_manifest, make_asset_url, publish
from tests.unit.conftest import build_app

pytestmark = pytest.mark.unit

STATIC = PACKAGE_DIR / "static"


def source_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_fingerprinted_name_keeps_directory_and_suffix() -> None:
    assert fingerprinted_name("css/site.css", "0123456789abcdef") == "css/site.0123456789ab.css"
    assert fingerprinted_name("a.min.js", "ffffffffffff00") == "a.min.ffffffffffff.js"


def test_build_copies_fingerprints_and_compresses(tmp_path: Path) -> None:
    manifest = build(STATIC, tmp_path)
    source = (STATIC / "css" / "site.css").read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:12]
    assert manifest["css/site.css"] == f"css/site.{digest}.css"
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    for name in ("css/site.css", f"css/site.{digest}.css"):
        assert (tmp_path / name).read_bytes() == source
        zipped = (tmp_path / (name + ".gz")).read_bytes()
        assert gzip.decompress(zipped) == source
        assert zipped[4:8] == b"\x00\x00\x00\x00"  # mtime 0
    assert (tmp_path / "favicon.svg.gz").is_file()


def test_build_is_deterministic(tmp_path: Path) -> None:
    build(STATIC, tmp_path / "one")
    build(STATIC, tmp_path / "two")
    one = {
        p.relative_to(tmp_path / "one"): p.read_bytes()
        for p in (tmp_path / "one").rglob("*")
        if p.is_file()
    }
    two = {
        p.relative_to(tmp_path / "two"): p.read_bytes()
        for p in (tmp_path / "two").rglob("*")
        if p.is_file()
    }
    assert one == two


def test_script_runs_with_the_stdlib_only(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-I", str(PACKAGE_DIR / "assets.py"), "build", str(STATIC), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "css/site.css" in json.loads((tmp_path / "manifest.json").read_text())


def test_script_rejects_bad_arguments(tmp_path: Path) -> None:
    script = str(PACKAGE_DIR / "assets.py")
    missing = str(tmp_path / "missing")
    for args in ([], ["build"], ["copy", str(STATIC), str(tmp_path)], ["build", missing, "out"]):
        result = subprocess.run([sys.executable, script, *args], capture_output=True, text=True)
        assert result.returncode == 2, args
        assert result.stderr.strip(), args


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


def _site_css(tmp_path: Path, name: str, css: str) -> Path:
    """A source tree like app/static with its stylesheet replaced by CSS, built into NAME."""
    source = tmp_path / f"{name}-src"
    (source / "css").mkdir(parents=True)
    (source / "css" / "site.css").write_text(css)
    (source / "favicon.svg").write_text("<svg/>")
    build(source, tmp_path / name)
    return tmp_path / name


def test_publish_keeps_the_previous_build_and_drops_older_ones(tmp_path: Path) -> None:
    served = tmp_path / "served"
    builds = [_site_css(tmp_path, f"b{n}", f"body {{ order: {n}; }}") for n in range(3)]
    hashed = [load_manifest(b / "manifest.json")["css/site.css"] for b in builds]

    publish(builds[0], served)
    publish(builds[1], served)
    # A page rendered by an old replica still finds its stylesheet; the new one is there.
    assert (served / hashed[0]).read_text() == "body { order: 0; }"
    assert (served / hashed[1]).read_text() == "body { order: 1; }"
    assert (served / "css/site.css").read_text() == "body { order: 1; }"
    assert json.loads((served / "manifest.json").read_text())["css/site.css"] == hashed[1]

    removed = publish(builds[2], served)
    assert hashed[0] in removed and hashed[0] + ".gz" in removed
    assert not (served / hashed[0]).exists()
    assert (served / hashed[1]).is_file() and (served / hashed[2]).is_file()
    # Publishing the same build again changes nothing and removes nothing.
    assert publish(builds[2], served) == []
    assert (served / hashed[1]).is_file()


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


def built_site(tmp_path: Path) -> tuple[Path, Path]:
    """A one-stylesheet site built into built/, and served/ where it is to be published."""
    built, served = tmp_path / "built", tmp_path / "served"
    build(source_tree(tmp_path / "src", {"site.css": "a"}), built)
    return built, served


def test_published_files_are_world_readable_and_made_beside_their_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built, served = built_site(tmp_path)
    # The system's temporary directory is elsewhere (another filesystem in the assets job).
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-dir"))
    publish(built, served)
    assert (served / "site.css").stat().st_mode & 0o777 == 0o644
    assert not [p for p in served.rglob("*") if p.name.startswith(".publish-")]


def test_a_copy_that_fails_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built, served = built_site(tmp_path)

    def disk_full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", disk_full)
    with pytest.raises(OSError, match="No space left"):
        publish(built, served)
    assert list(served.rglob("*")) == []


def test_asset_url_uses_the_manifest_or_falls_back_to_the_plain_name() -> None:
    asset_url = make_asset_url({"css/site.css": "css/site.abcdef012345.css"})
    assert asset_url("css/site.css") == "/static/css/site.abcdef012345.css"
    assert asset_url("/css/site.css") == "/static/css/site.abcdef012345.css"
    assert asset_url("js/app.js") == "/static/js/app.js"
    assert make_asset_url({})("css/site.css") == "/static/css/site.css"
    # Only the leading slashes go, all of them.
    assert make_asset_url({})("//X-logo.svg") == "/static/X-logo.svg"


def test_load_manifest_tolerates_missing_or_invalid_files(tmp_path: Path) -> None:
    assert load_manifest(None) == {}
    assert load_manifest(tmp_path / "absent.json") == {}
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert load_manifest(tmp_path / "bad.json") == {}


def test_landing_page_links_the_fingerprinted_stylesheet(tmp_path: Path) -> None:
    manifest = build(STATIC, tmp_path)
    app = build_app(ASSET_MANIFEST=str(tmp_path / "manifest.json"))
    page = app.test_client().get("/").get_data(as_text=True)
    assert f'href="/static/{manifest["css/site.css"]}"' in page
    assert 'href="/health"' in page
    assert 'href="/api/items"' in page
    assert "<title>" in page
