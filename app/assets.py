"""Fingerprinted static assets: the build step and the manifest lookup (stdlib only).

As a script, ``python app/assets.py SRC_DIR OUT_DIR`` copies every file of SRC_DIR to OUT_DIR
under its own name and under a fingerprinted one (``css/site.<12 hex of sha256>.css``), writes
a deterministic ``.gz`` (level 9, mtime 0) beside every text file, and writes
``OUT_DIR/manifest.json`` mapping each name to its fingerprinted name. nginx serves OUT_DIR;
the app reads the manifest to render asset URLs.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

MANIFEST_NAME = "manifest.json"
TEXT_SUFFIXES = frozenset({".css", ".js", ".svg", ".html", ".json", ".txt", ".xml", ".map"})
HASH_LENGTH = 12


def fingerprinted_name(relative: str, digest: str) -> str:
    """``css/site.css`` with digest ``abc…`` becomes ``css/site.<12 hex>.css``."""
    path = Path(relative)
    return path.with_name(f"{path.stem}.{digest[:HASH_LENGTH]}{path.suffix}").as_posix()


def _source_files(src: Path) -> list[Path]:
    return sorted(
        path
        for path in src.rglob("*")
        if path.is_file()
        and path.name != MANIFEST_NAME
        and path.suffix != ".gz"
        and not any(part.startswith(".") for part in path.relative_to(src).parts)
    )


def _write_gzip(path: Path) -> None:
    data = path.read_bytes()
    target = path.with_name(path.name + ".gz")
    with (
        target.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as zipped,
    ):
        zipped.write(data)


def build(src: Path, out: Path) -> dict[str, str]:
    """Copy, fingerprint and compress SRC into OUT; return (and write) the manifest."""
    manifest: dict[str, str] = {}
    for path in _source_files(src):
        relative = path.relative_to(src).as_posix()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        hashed = fingerprinted_name(relative, digest)
        manifest[relative] = hashed
        for name in (relative, hashed):
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            if target.suffix in TEXT_SUFFIXES:
                _write_gzip(target)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST_NAME).write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return manifest


def load_manifest(path: str | Path | None) -> dict[str, str]:
    """The manifest at PATH, or an empty one when PATH is unset, missing or unreadable."""
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(key): str(value) for key, value in data.items()}


def make_asset_url(manifest: dict[str, str], prefix: str = "/static/") -> Callable[[str], str]:
    """A function returning the fingerprinted URL of a name, or its plain URL if not listed."""

    def asset_url(name: str) -> str:
        name = name.lstrip("/")
        return prefix + manifest.get(name, name)

    return asset_url


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python app/assets.py SRC_DIR OUT_DIR", file=sys.stderr)
        return 2
    src, out = Path(argv[0]), Path(argv[1])
    if not src.is_dir():
        print(f"error: {src} is not a directory", file=sys.stderr)
        return 2
    manifest = build(src, out)
    print(f"fingerprinted {len(manifest)} files into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
