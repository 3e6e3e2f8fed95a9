"""Fingerprinted assets: the build script and asset_url."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from app import PACKAGE_DIR
from app.assets import build, fingerprinted_name, load_manifest, make_asset_url, publish
from tests.unit.conftest import build_app

pytestmark = pytest.mark.unit

STATIC = PACKAGE_DIR / "static"


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


def test_asset_url_uses_the_manifest_or_falls_back_to_the_plain_name() -> None:
    asset_url = make_asset_url({"css/site.css": "css/site.abcdef012345.css"})
    assert asset_url("css/site.css") == "/static/css/site.abcdef012345.css"
    assert asset_url("/css/site.css") == "/static/css/site.abcdef012345.css"
    assert asset_url("js/app.js") == "/static/js/app.js"
    assert make_asset_url({})("css/site.css") == "/static/css/site.css"


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
