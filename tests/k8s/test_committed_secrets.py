"""No committed secrets, and the README's instructions copy every secret file the overlays read."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.k8s.conftest import ROOT
from tests.k8s.manifests import find

pytestmark = pytest.mark.unit


def test_no_secret_file_is_tracked(kv):
    tracked = subprocess.run(
        ["git", "ls-files", "deploy/k8s"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    secret_names = {*kv.SECRET_FILES, *kv.TLS_FILES}
    assert not [p for p in tracked if Path(p).name in secret_names]


def test_the_readme_copies_every_file_the_secret_generators_read(overlay, kv):
    # The overlays' secretGenerators read these files; the README's `cp` puts them there.
    _, docs = overlay
    readme = (ROOT / "deploy/k8s/README.md").read_text()
    block = readme[readme.index("for o in local production") :].split("done", 1)[0]
    copied = set(re.findall(r"(?:secrets|certs)/([A-Za-z0-9_.]+)", block))
    assert copied == {*kv.SECRET_FILES, *kv.TLS_FILES}
    assert set(find(docs, "Secret", "app-secrets")["data"]) == set(kv.SECRET_FILES)
