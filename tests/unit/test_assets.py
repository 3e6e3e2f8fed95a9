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
from app.assets import build, fingerprinted_name, load_manifest, make_asset_url
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
        [sys.executable, "-I", str(PACKAGE_DIR / "assets.py"), str(STATIC), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "css/site.css" in json.loads((tmp_path / "manifest.json").read_text())


def test_script_rejects_bad_arguments(tmp_path: Path) -> None:
    script = str(PACKAGE_DIR / "assets.py")
    assert subprocess.run([sys.executable, script], capture_output=True).returncode == 2
    missing = str(tmp_path / "missing")
    assert (
        subprocess.run(
            [sys.executable, script, missing, str(tmp_path)], capture_output=True
        ).returncode
        == 2
    )


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
