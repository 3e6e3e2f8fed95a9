"""The alerts the docs name are the ones Prometheus runs, with the severity a page is routed on.

The docs say what each alert means and where to look; its threshold and `for:` time live in
its rule file only (prometheus/rules/), whose promtool tests (prometheus/tests/) check that it
fires as written. What an operator acts on, and the docs therefore state, is the alert's name,
its severity (critical pages, warning opens a ticket) and the labels Alertmanager routes on:
those are checked here against the rule files, and every alert of a rule file must be named
in a doc, so that a page always has a runbook.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
RULE_FILES = sorted((ROOT / "prometheus" / "rules").glob("*.yml"))
SEVERITIES = ("critical", "warning")


@cache
def alerts() -> dict[str, set[str]]:
    """Every alert of every rule file -> the severities of its rules (TargetDown has two)."""
    found: dict[str, set[str]] = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found.setdefault(rule["alert"], set()).add(rule["labels"]["severity"])
    return found


def alert_tables() -> list[tuple[str, str, str]]:
    """Each row of a doc's alert table (header `| alert | severity | ...`): (doc, the row's
    alert names, its severity cell)."""
    rows = []
    for path in DOCS:
        in_table = False
        for line in path.read_text().splitlines():
            if line.startswith("| alert | severity |"):
                in_table = True
                continue
            if not line.startswith("|"):
                in_table = False
            if in_table and not line.startswith("|---"):
                cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
                rows.append((path.name, cells[0], cells[1]))
    return rows


def test_there_are_alert_tables_to_check() -> None:
    docs = {doc for doc, _, _ in alert_tables()}
    assert {"operations.md", "observability.md", "backups.md"} <= docs


@pytest.mark.parametrize(
    "doc, names, severity", alert_tables(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_an_alert_in_a_table_exists_with_the_severity_the_table_gives(
    doc: str, names: str, severity: str
) -> None:
    named = re.findall(r"`([A-Z][A-Za-z0-9]+)`", names)
    assert named, f"{doc}: a row of an alert table names no alert: {names!r}"
    said = {level for level in SEVERITIES if level in severity}
    assert said, f"{doc}: {names} has no severity: {severity!r}"
    for name in named:
        assert name in alerts(), f"{doc} names {name}, which no rule file defines"
        assert alerts()[name] == said, f"{doc} gives {name} {said}, the rules {alerts()[name]}"


def test_every_alert_of_the_rule_files_is_named_in_a_doc() -> None:
    docs = " ".join(path.read_text() for path in DOCS)
    missing = sorted(name for name in alerts() if f"`{name}`" not in docs)
    assert not missing, f"alerts no doc names (and so no runbook): {missing}"


@cache
def expression(alert: str) -> str:
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alert:
                    return " ".join(rule["expr"].split())
    raise AssertionError(f"no rule file defines {alert}")


def threshold(alert: str, pattern: str) -> float:
    """The number PATTERN's group captures in ALERT's expression (`26 * 3600` multiplied)."""
    match = re.search(pattern, expression(alert))
    assert match, f"{alert}'s expression no longer matches {pattern!r}: {expression(alert)}"
    value = 1.0
    for factor in match.group(1).split("*"):
        value *= float(factor)
    return value


def compose_default(variable: str) -> float:
    compose = (ROOT / "compose.yaml").read_text()
    match = re.search(rf"\$\{{{variable}:-(\d+)\}}", compose)
    assert match, f"compose.yaml no longer gives {variable} a default"
    return float(match.group(1))


def test_the_thresholds_keep_what_the_docs_say_of_them() -> None:
    """The docs give no threshold, only what it means against a setting: backups.md's "older
    than the threshold, a little more than the default BACKUP_INTERVAL_SECONDS" and "more than
    two default BACKUP_VERIFY_INTERVAL_SECONDS"; certificates.md's and observability.md's
    "closer than renewal should ever let it get" (ACME_RENEW_BEFORE_DAYS)."""
    age = r"> ([\d.]+(?: \* [\d.]+)*)$"
    interval = compose_default("BACKUP_INTERVAL_SECONDS")
    assert interval < threshold("BackupTooOld", age) < 2 * interval
    verify = compose_default("BACKUP_VERIFY_INTERVAL_SECONDS")
    assert 2 * verify < threshold("BackupVerificationTooOld", age)
    acme = (ROOT / "acme" / "acmeloop" / "settings.py").read_text()
    renew = re.search(r'"ACME_RENEW_BEFORE_DAYS", (\d+)\)', acme)
    assert renew, "acme/acmeloop/settings.py no longer gives ACME_RENEW_BEFORE_DAYS a default"
    days = r"/ 86400 < ([\d.]+)"
    for alert in ("CertificateExpiresSoon", "EdgeCertificateExpiresSoon"):
        assert threshold(alert, days) < float(renew.group(1)), alert
    for soon, very_soon in [
        ("CertificateExpiresSoon", "CertificateExpiresVerySoon"),
        ("EdgeCertificateExpiresSoon", "EdgeCertificateExpiresVerySoon"),
    ]:
        assert threshold(very_soon, days) < threshold(soon, days), very_soon


def test_the_slo_label_values_the_doc_gives_are_the_rules() -> None:
    """observability.md: route on `severity` and on the `slo` label, `availability` or
    `latency`; each SLO alert carries one of them, and both are used."""
    words = " ".join((ROOT / "docs" / "observability.md").read_text().split())
    said = re.search(r"and the `slo` label, `(\w+)` or `(\w+)`\)", words)
    assert said, "observability.md no longer names the `slo` label's values"
    slo = yaml.safe_load((ROOT / "prometheus" / "rules" / "slo.yml").read_text())
    labels = {
        rule["labels"]["slo"]
        for group in slo["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert labels == set(said.groups())
