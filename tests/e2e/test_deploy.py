"""make deploy replaces the app with a new build under request streams, failing nothing and
closing no client connection, and the job worker with it, losing no import; a changed
stylesheet is served with the pages that link it."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.support.edge import BASE, new_session
from tests.support.imports import import_items, post_import, wait_finished
from tests.support.load import create_item, read_page, streams
from tests.support.settings import ROOT
from tests.support.stack import compose

STYLESHEET = ROOT / "app" / "static" / "css" / "site.css"


def landing_stylesheet(session: requests.Session) -> requests.Response:
    """Load the landing page, then the stylesheet it links: the stylesheet's answer."""
    page = session.get(f"{BASE}/", timeout=30)
    if page.status_code != 200:
        return page
    href = re.search(r'href="(/static/[^"]+\.css)"', page.text)
    assert href, "the landing page links no stylesheet"
    return session.get(f"{BASE}{href.group(1)}", timeout=30)


class ImportStream:
    """Posts an import of 50 items every half second; remembers the accepted ones."""

    def __init__(self) -> None:
        self.accepted: list[str] = []

    def __call__(self, session: requests.Session) -> requests.Response:
        response = post_import(session, import_items(50, "deploy"))
        if response.status_code == 202:
            self.accepted.append(response.json()["id"])
        time.sleep(0.5)
        return response


# Keep-alive clients, reads and writes, pages and their stylesheets, no client-side retry.
STREAMS = [read_page, read_page, create_item, create_item, landing_stylesheet]


def deploy_under_streams() -> dict[str, int]:
    """Run `make deploy` under the streams and a stream of imports; return the outcomes,
    asserting none failed and every accepted import was applied."""
    before = set(compose("ps", "-q", "app").stdout.split())
    worker_before = set(compose("ps", "-q", "worker").stdout.split())
    imports = ImportStream()
    with streams([*STREAMS, imports]) as outcomes:
        time.sleep(2)
        result = subprocess.run(["make", "-s", "deploy"], cwd=ROOT, capture_output=True,
                                text=True, timeout=600)  # fmt: skip
        time.sleep(2)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = outcomes.snapshot()
    assert outcomes.total >= 2000, f"too few requests crossed the deploy: {dict(counts)}"
    assert not outcomes.failures(ok=("200", "201", "202")), f"failed: {dict(counts)}"
    after = set(compose("ps", "-q", "app").stdout.split())
    assert after and not (after & before), "an old replica is still serving"
    assert not set(compose("ps", "-q", "worker").stdout.split()) & worker_before, "old worker"
    # No import is lost: each accepted one is applied by the old worker or the new.
    assert len(imports.accepted) >= 10, dict(counts)
    with new_session() as session:
        for import_id in imports.accepted:
            body = wait_finished(session, import_id, timeout=180)
            assert (body["status"], body["done"]) == ("succeeded", 50), body
    print(f"requests across the deploy: {dict(counts)}")  # shown with -rP
    return dict(counts)


def served_stylesheet() -> str:
    with new_session() as session:
        return landing_stylesheet(session).text


@pytest.fixture
def changed_stylesheet() -> Iterator[str]:
    """site.css in the work tree with a new rule; restored (and deployed) afterwards."""
    original = STYLESHEET.read_text()
    marker = f"deploy-{uuid.uuid4().hex[:12]}"
    STYLESHEET.write_text(original + f"\n.{marker} {{ color: inherit; }}\n")
    try:
        yield marker
    finally:
        STYLESHEET.write_text(original)


def test_a_stylesheet_change_is_deployed_with_no_failed_request(
    edge_limits_raised, changed_stylesheet
):
    assert changed_stylesheet not in served_stylesheet()
    deploy_under_streams()
    assert changed_stylesheet in served_stylesheet(), "the new pages link the old stylesheet"


def test_a_deploy_with_thousands_of_requests_in_flight_closes_no_connection(edge_limits_raised):
    # The work tree is back to the committed stylesheet: this deploy also reverts the change.
    deploy_under_streams()
    assert "deploy-" not in served_stylesheet()


def test_after_a_deploy_make_up_returns_to_a_serving_stack(http):
    result = subprocess.run(["make", "-s", "up"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    statuses = {http.get(f"{BASE}/api/items?limit=1", timeout=10).status_code for _ in range(10)}
    assert statuses == {200}
