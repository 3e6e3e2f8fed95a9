"""The OpenAPI document through the edge, and schemathesis driving the running stack from it:
no 5xx, every status, content type, header and body as the document says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.edge import BASE, CA_FILE
from tests.support.settings import ROOT

DOCUMENT = f"{BASE}/api/openapi.json"
CONFIG = ROOT / "schemathesis.toml"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Bounds of the run: cases per operation and phase, and the whole run's time.
MAX_EXAMPLES = 25
RUN_TIMEOUT = 150


def test_the_edge_serves_the_openapi_document(http):
    response = http.get(DOCUMENT, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert "Content-Security-Policy" in response.headers
    # Compact: the serving app runs with debug off (Flask indents JSON in debug mode alone).
    assert "\n" not in response.text[:100], response.text[:100]
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert {
        "/api/items",
        "/api/items/{item_id}",
        "/api/imports",
        "/api/imports/{import_id}",
    } <= set(document["paths"])


@pytest.mark.exclusive
def test_schemathesis_finds_nothing_the_document_does_not_describe(edge_limits_raised, tmp_path):
    """Every check schemathesis has (not_a_server_error, status_code_conformance,
    content_type_conformance, response_headers_conformance, response_schema_conformance,
    negative_data_rejection, positive_data_acceptance, unsupported_method, ...), on cases
    generated from the served document, sent to the edge's published port alone."""
    command = [
        str(SCHEMATHESIS), "--config-file", str(CONFIG), "--no-color",
        "run", DOCUMENT, "--url", BASE, "--tls-verify", CA_FILE,
        "--checks", "all", "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(MAX_EXAMPLES), "--seed", "19", "--workers", "2",
        "--request-timeout", "10", "--max-redirects", "0",
        "--generation-database", "none", "--output-truncate", "true",
    ]  # fmt: skip
    # Straight to the edge: no proxy from the environment.
    env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    # In a temporary directory: schemathesis keeps a cache in the working directory.
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    report = result.stdout[-12000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    assert "No issues found" in result.stdout, report
