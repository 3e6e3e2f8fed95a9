"""make deploy replaces the app with a new build under request streams, failing nothing and
closing no client connection, and the job worker with it, losing no import; a changed
stylesheet is served with the pages that link it; `make up` afterwards returns to the
committed build (in the same test: no other test meets the deployed build)."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.support.edge import BASE, new_session
from tests.support.imports import import_items, wait_finished
from tests.support.load import KeptAlive, kept_alive_streams
from tests.support.settings import ROOT
from tests.support.stack import compose

pytestmark = pytest.mark.exclusive

STYLESHEET = ROOT / "app" / "static" / "css" / "site.css"


def read_page(client: KeptAlive) -> int:
    return client.request("GET", "/api/items?limit=5")[0]


def create_item(client: KeptAlive) -> int:
    return client.request("POST", "/api/items", {"name": "stream"})[0]


def landing_stylesheet(client: KeptAlive) -> int:
    """Load the landing page, then the stylesheet it links (both on the same connection): the
    stylesheet's status."""
    status, page = client.request("GET", "/")
    if status != 200:
        return status
    href = re.search(rb'href="(/static/[^"]+\.css)"', page)
    assert href, "the landing page links no stylesheet"
    return client.request("GET", href.group(1).decode())[0]


class ImportStream:
    """Posts an import of 50 items every half second; remembers the accepted ones."""

    def __init__(self) -> None:
        self.accepted: list[str] = []

    def __call__(self, client: KeptAlive) -> int:
        status, body = client.request("POST", "/api/imports", {"items": import_items(50, "deploy")})
        if status == 202:
            self.accepted.append(json.loads(body)["id"])
        time.sleep(0.5)
        return status


# Keep-alive connections, reads and writes, pages and their stylesheets, no client-side retry.
STREAMS = [read_page, read_page, create_item, create_item, landing_stylesheet]


def served_stylesheet() -> str:
    with new_session() as session:
        page = session.get(f"{BASE}/", timeout=30)
        href = re.search(r'href="(/static/[^"]+\.css)"', page.text)
        assert href, "the landing page links no stylesheet"
        return session.get(f"{BASE}{href.group(1)}", timeout=30).text


@pytest.fixture
def changed_stylesheet() -> Iterator[tuple[str, str]]:
    """site.css in the work tree with a new rule: (the rule's class, the committed text); the
    committed one restored afterwards."""
    original = STYLESHEET.read_text()
    marker = f"deploy-{uuid.uuid4().hex[:12]}"
    STYLESHEET.write_text(original + f"\n.{marker} {{ color: inherit; }}\n")
    try:
        yield marker, original
    finally:
        STYLESHEET.write_text(original)


def test_a_deploy_under_load_fails_no_request_and_closes_no_connection_then_make_up_reverts(
    edge_limits_raised, changed_stylesheet
):
    marker, committed = changed_stylesheet
    assert marker not in served_stylesheet()
    before = set(compose("ps", "-q", "app").stdout.split())
    worker_before = set(compose("ps", "-q", "worker").stdout.split())
    imports = ImportStream()
    with kept_alive_streams([*STREAMS, imports]) as outcomes:
        time.sleep(2)
        result = make("deploy")
        time.sleep(2)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = outcomes.snapshot()
    print(f"requests across the deploy: {dict(counts)}")  # shown with -rP
    assert outcomes.total >= 2000, f"too few requests crossed the deploy: {dict(counts)}"
    # Every answer a success, each on the connection its stream opened first: none was closed.
    assert not outcomes.failures(ok=("200", "201", "202")), f"failed: {dict(counts)}"
    after = set(compose("ps", "-q", "app").stdout.split())
    assert after and not (after & before), "an old replica is still serving"
    assert not set(compose("ps", "-q", "worker").stdout.split()) & worker_before, "old worker"
    assert marker in served_stylesheet(), "the new pages link the old stylesheet"
    # No import is lost: each accepted one is applied by the old worker or the new.
    assert len(imports.accepted) >= 10, dict(counts)
    with new_session() as session:
        for import_id in imports.accepted:
            body = wait_finished(session, import_id, timeout=180)
            assert (body["status"], body["done"]) == ("succeeded", 50), body

    # `make up` afterwards returns to what the work tree holds: the committed stylesheet.
    STYLESHEET.write_text(committed)
    result = make("up")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    with new_session() as session:
        statuses = {session.get(f"{BASE}/api/items?limit=1", timeout=10).status_code
                    for _ in range(10)}  # fmt: skip
    assert statuses == {200}
    assert marker not in served_stylesheet(), "make up left the deployed stylesheet"


def make(target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-s", target], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
