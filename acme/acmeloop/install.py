"""Installation: where nginx reads the certificate.

install_dir/gen-<time>/fullchain.pem, privkey.pem   one generation, never changed once written
install_dir/live -> gen-<time>                       the current one, switched by a rename
install_dir/fullchain.pem -> live/fullchain.pem      stable names for people and tools
install_dir/privkey.pem -> live/privkey.pem

The files are 0640: this process runs in nginx's group (compose.yaml), so nginx reads them and
nobody else does. nginx copies the generation `live` names, checks it and serves it from the
next handshake.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .settings import Settings

# Generations of the installed certificate kept besides the current one, so that a reader
# that resolved the previous generation a moment ago can still finish reading it.
KEEP_GENERATIONS = 2


def installed_fullchain(settings: Settings) -> Path:
    return settings.install_dir / "live" / "fullchain.pem"


def _replace_symlink(target: str, link: Path) -> None:
    temporary = link.with_name(f".{link.name}.new")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    temporary.symlink_to(target)
    os.replace(temporary, link)


def install(settings: Settings, fullchain: bytes, privkey: bytes) -> Path:
    """Install a certificate and its key as a new generation, switched to atomically."""
    root = settings.install_dir
    generation = root / f"gen-{time.time_ns()}"
    partial = root / f".{generation.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o750)
    os.chmod(partial, 0o750)
    for name, data in (("fullchain.pem", fullchain), ("privkey.pem", privkey)):
        fd = os.open(partial / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(partial / name, 0o640)
    os.rename(partial, generation)
    _replace_symlink(generation.name, root / "live")
    for name in ("fullchain.pem", "privkey.pem"):
        if not (root / name).is_symlink():
            _replace_symlink(f"live/{name}", root / name)
    _prune(root, keep={generation.name})
    return generation


def uninstall(settings: Settings) -> bool:
    """Remove the installed certificate (nginx falls back to its default one); True if any."""
    root = settings.install_dir
    had = (root / "live").is_symlink()
    for name in ("live", "fullchain.pem", "privkey.pem"):
        with contextlib.suppress(FileNotFoundError):
            (root / name).unlink()
    _prune(root, keep=set(), keep_count=0)
    return had


def _prune(root: Path, keep: set[str], keep_count: int = KEEP_GENERATIONS) -> None:
    generations = sorted((p for p in root.glob("gen-*") if p.is_dir()), key=lambda p: p.name)
    old = [p for p in generations if p.name not in keep]
    for path in old[: max(0, len(old) - keep_count)]:
        shutil.rmtree(path, ignore_errors=True)
    for path in root.glob(".gen-*.partial"):
        shutil.rmtree(path, ignore_errors=True)


def _pem_certificates(data: bytes) -> bytes:
    """Only the certificates of a PEM bundle, normalised, to compare two bundles."""
    return b"".join(c.public_bytes(Encoding.PEM) for c in x509.load_pem_x509_certificates(data))


def install_from_lineage(settings: Settings) -> bool:
    """Install certbot's current certificate unless it is the one installed; True if installed."""
    fullchain = settings.lineage_fullchain.read_bytes()
    privkey = settings.lineage_privkey.read_bytes()
    with contextlib.suppress(OSError, ValueError):
        current = installed_fullchain(settings).read_bytes()
        if _pem_certificates(current) == _pem_certificates(fullchain):
            return False
    install(settings, fullchain, privkey)
    return True
