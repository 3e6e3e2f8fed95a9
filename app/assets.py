"""Fingerprinted static assets: build them once, publish them for nginx (stdlib only).

``python app/assets.py build SRC_DIR OUT_DIR`` (in the image build) copies every file of SRC_DIR
to OUT_DIR under its own name and under a fingerprinted one (``css/site.<12 hex of
sha256>.css``), writes a deterministic ``.gz`` (level 9, mtime 0) beside every text file, and
writes ``OUT_DIR/manifest.json`` mapping each name to its fingerprinted name. The app reads that
manifest to render asset URLs.

``python app/assets.py publish OUT_DIR TARGET_DIR`` (the one-shot ``assets`` service, before new
app replicas serve) copies OUT_DIR into the directory nginx serves. Files named by the previous
manifest stay, so pages still served by older replicas keep their stylesheets during a deploy;
files that neither of the last two manifests names are removed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

MANIFEST_NAME = "manifest.json"
PREVIOUS_MANIFEST_NAME = "manifest.previous.json"
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
        and path.name not in (MANIFEST_NAME, PREVIOUS_MANIFEST_NAME)
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


def _copy_atomically(source: Path, target: Path) -> None:
    """Replace TARGET by a copy of SOURCE in one rename: nginx never serves half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".publish-")
    os.close(handle)
    try:
        shutil.copyfile(source, temporary)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _published_names(manifest: dict[str, str]) -> set[str]:
    names = set(manifest) | set(manifest.values())
    return names | {name + ".gz" for name in names}


def publish(built: Path, target: Path) -> list[str]:
    """Copy BUILT (the output of ``build``) into TARGET; return the names removed from TARGET."""
    manifest = load_manifest(built / MANIFEST_NAME)
    current = target / MANIFEST_NAME
    previous = load_manifest(current)
    for path in sorted(p for p in built.rglob("*") if p.is_file()):
        relative = path.relative_to(built).as_posix()
        if relative == MANIFEST_NAME:
            continue
        destination = target / relative
        if not (destination.is_file() and destination.read_bytes() == path.read_bytes()):
            _copy_atomically(path, destination)
    if previous and previous != manifest:
        _copy_atomically(current, target / PREVIOUS_MANIFEST_NAME)
    _copy_atomically(built / MANIFEST_NAME, current)
    keep = _published_names(manifest) | _published_names(
        load_manifest(target / PREVIOUS_MANIFEST_NAME)
    )
    removed = []
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        relative = path.relative_to(target).as_posix()
        if relative in (MANIFEST_NAME, PREVIOUS_MANIFEST_NAME) or relative in keep:
            continue
        path.unlink()
        removed.append(relative)
    return removed


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


USAGE = "usage: python app/assets.py build SRC_DIR OUT_DIR | publish OUT_DIR TARGET_DIR"


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("build", "publish"):
        print(USAGE, file=sys.stderr)
        return 2
    command, source, destination = argv[0], Path(argv[1]), Path(argv[2])
    if not source.is_dir():
        print(f"error: {source} is not a directory", file=sys.stderr)
        return 2
    if command == "build":
        manifest = build(source, destination)
        print(f"fingerprinted {len(manifest)} files into {destination}")
    else:
        removed = publish(source, destination)
        print(f"published {source} into {destination}; removed {len(removed)} stale files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
