"""make deploy replaces the app with a new build under a steady request stream, failing nothing."""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter

import requests

from .stack import BASE, ROOT, compose, new_session, wait_for

NEW_VERSION = "1.0.1-deploy-test"


def test_deploy_under_a_steady_stream_fails_no_request(http):
    before = set(compose("ps", "-q", "app").stdout.split())
    statuses: Counter[str] = Counter()
    stop = threading.Event()

    def stream(kind: str) -> None:
        session = new_session()
        while not stop.is_set():
            try:
                if kind == "write":
                    response = session.post(f"{BASE}/api/items", json={"name": "deploy"},
                                            timeout=30)  # fmt: skip
                else:
                    response = session.get(f"{BASE}/api/items?limit=5", timeout=30)
                statuses[str(response.status_code)] += 1
            except requests.RequestException as error:
                statuses[f"error: {type(error).__name__}"] += 1
            time.sleep(0.05)

    workers = [threading.Thread(target=stream, args=(k,)) for k in ("read", "read", "write")]
    for worker in workers:
        worker.start()
    try:
        time.sleep(2)
        result = subprocess.run(
            ["make", "-s", "deploy", f"APP_VERSION={NEW_VERSION}"],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        time.sleep(2)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    failures = {k: v for k, v in statuses.items() if not k.startswith(("200", "201"))}
    assert sum(statuses.values()) > 100, f"the stream was too thin to prove anything: {statuses}"
    assert not failures, f"failed during the deploy: {failures} of {dict(statuses)}"

    after = set(compose("ps", "-q", "app").stdout.split())
    assert after and not (after & before), "the old replica is still serving"
    wait_for(lambda: http.get(f"{BASE}/health", timeout=5).json()["version"] == NEW_VERSION, 30,
             what="the new build behind nginx")  # fmt: skip


def test_after_a_deploy_make_up_returns_to_the_configured_build(http):
    result = subprocess.run(["make", "-s", "up"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert http.get(f"{BASE}/health", timeout=5).json()["version"] != NEW_VERSION
