"""compose.syslog.yaml ships every service's logs: none of compose.yaml's is left out."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_the_syslog_overlay_covers_every_service_of_compose_yaml_with_the_syslog_driver():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    overlay = yaml.safe_load((ROOT / "compose.syslog.yaml").read_text())["services"]
    assert set(overlay) == set(compose)
    for service, spec in overlay.items():
        logging = spec["logging"]
        assert logging["driver"] == "syslog", service
        assert logging["options"]["syslog-address"].startswith("${SYSLOG_ADDRESS:?"), service
        assert logging["options"]["tag"] == "{{.Name}}", service
