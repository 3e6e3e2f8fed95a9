"""The alerts, SLOs and probes the docs describe are the ones Prometheus runs.

observability.md and backups.md restate the rule files' thresholds, `for:` times, severities,
SLO targets and burn rates, and the probes' targets and accepted statuses. The promtool tests
(prometheus/tests/) check that the rules behave as their files say; these check that the docs
say what the files say, so that a changed rule fails here until its doc follows.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
OBS = "docs/observability.md"
BACKUPS = "docs/backups.md"
PROBES = "prometheus/rules/probes.yml"
BACKUP_RULES = "prometheus/rules/backups.yml"
SLO = "prometheus/rules/slo.yml"


@cache
def text(path: str) -> str:
    return (ROOT / path).read_text()


def words(path: str) -> str:
    return " ".join(text(path).split())


@cache
def rules(path: str) -> dict[str, dict]:
    """Every rule of a rule file, by alert or record name."""
    found = {}
    for group in yaml.safe_load(text(path))["groups"]:
        for rule in group["rules"]:
            found[rule.get("alert") or rule["record"]] = rule
    return found


class AlertClaim(NamedTuple):
    doc: str
    phrase: str  # the doc's words, as written
    rules: str  # the rule file
    alert: str
    severity: str
    for_: str | None  # the rule's `for:` (None: it fires at once)
    expr: str  # a regular expression the rule's expression must match


ALERT_CLAIMS = [
    AlertClaim(
        OBS,
        "| `EdgeDownFromOutside` | critical | The `https` probe fails for 2 minutes. |",
        PROBES,
        "EdgeDownFromOutside",
        "critical",
        "2m",
        r'^probe_success\{probe="https"\} == 0$',
    ),
    AlertClaim(
        OBS,
        "| `EdgeRedirectBroken` | warning | HTTP has not redirected to HTTPS for 5 minutes while "
        "HTTPS works. |",
        PROBES,
        "EdgeRedirectBroken",
        "warning",
        "5m",
        r'probe_success\{probe="redirect"\} == 0\n.*probe_success\{probe="https"\} == 1',
    ),
    AlertClaim(
        OBS,
        "| `EdgeHTTP2Broken` | warning | HTTPS has not been answered over HTTP/2 for 5 minutes "
        "while HTTPS works. |",
        PROBES,
        "EdgeHTTP2Broken",
        "warning",
        "5m",
        r'probe_success\{probe="http2"\} == 0\n.*probe_success\{probe="https"\} == 1',
    ),
    AlertClaim(
        OBS,
        "| `EdgeCertificateExpiresSoon` | warning | The served certificate expires within 14 "
        "days, for 1 hour. |",
        PROBES,
        "EdgeCertificateExpiresSoon",
        "warning",
        "1h",
        r'^\(probe_ssl_earliest_cert_expiry\{probe="https"\} - time\(\)\) / 86400 < 14$',
    ),
    AlertClaim(
        OBS,
        "| `EdgeCertificateExpiresVerySoon` | critical | The served certificate expires within "
        "3 days, for 10 minutes. |",
        PROBES,
        "EdgeCertificateExpiresVerySoon",
        "critical",
        "10m",
        r'^\(probe_ssl_earliest_cert_expiry\{probe="https"\} - time\(\)\) / 86400 < 3$',
    ),
    AlertClaim(
        BACKUPS,
        "| `BackupFailed` | the last backup (dump, encryption, upload or retention) failed |",
        BACKUP_RULES,
        "BackupFailed",
        "critical",
        None,
        r"^backup_last_run_success == 0$",
    ),
    AlertClaim(
        BACKUPS,
        "| `BackupTooOld` | the last successful backup is more than 26 hours old, for 10 minutes |",
        BACKUP_RULES,
        "BackupTooOld",
        "critical",
        "10m",
        r"^time\(\) - backup_last_success_timestamp_seconds > 26 \* 3600$",
    ),
    AlertClaim(
        BACKUPS,
        "| `BackupVerificationFailed` | the last verification failed:",
        BACKUP_RULES,
        "BackupVerificationFailed",
        "critical",
        None,
        r"^backup_verify_last_run_success == 0$",
    ),
    AlertClaim(
        BACKUPS,
        "| `BackupVerificationTooOld` | no verification has succeeded for 50 hours, for 10 "
        "minutes |",
        BACKUP_RULES,
        "BackupVerificationTooOld",
        "warning",
        "10m",
        r"^time\(\) - backup_verify_last_success_timestamp_seconds > 50 \* 3600$",
    ),
]


@pytest.mark.parametrize("claim", ALERT_CLAIMS, ids=lambda c: f"{c.doc}: {c.alert}")
def test_a_documented_alert_has_the_rule_s_threshold_and_for(claim: AlertClaim) -> None:
    assert claim.phrase in words(claim.doc), f"{claim.doc} no longer says {claim.phrase!r}"
    rule = rules(claim.rules)[claim.alert]
    assert rule["labels"]["severity"] == claim.severity
    assert rule.get("for") == claim.for_, f"{claim.alert}'s `for:` is not what {claim.doc} says"
    assert re.search(claim.expr, rule["expr"].strip(), re.S), (
        f"{claim.alert}'s expression is not what {claim.doc} says: {rule['expr']!r}"
    )


@pytest.mark.parametrize("path, doc", [(PROBES, OBS), (BACKUP_RULES, BACKUPS)])
def test_every_alert_of_a_rule_file_is_in_its_doc_s_table(path: str, doc: str) -> None:
    documented = {c.alert for c in ALERT_CLAIMS if c.rules == path}
    assert documented == set(rules(path)), f"{doc}'s alert table and {path} differ"


# --- the SLOs -------------------------------------------------------------------------------


def table(doc: str, header: str) -> list[list[str]]:
    """The rows of the table under HEADER (its first line, as written) in DOC, as cells."""
    lines = text(doc).splitlines()
    start = lines.index(header) + 2  # past the header and its |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def percent(cell: str) -> float:
    return float(re.match(r"([\d.]+) %", cell).group(1))  # type: ignore[union-attr]


def budgets() -> dict[str, float]:
    """observability.md's objectives: SLO name -> error budget, as a share (0.001 for 0.1 %)."""
    found = {}
    for name, target, budget in table(OBS, "| objective | target | error budget |"):
        assert round(100 - percent(target), 6) == percent(budget), name
        found[name] = percent(budget) / 100
    return found


# The alerts of each objective, by the `slo` label they carry.
ALERTS = {
    "availability": ("ApiErrorBudgetFastBurn", "ApiErrorBudgetSlowBurn"),
    "latency": ("ApiLatencyBudgetFastBurn", "ApiLatencyBudgetSlowBurn"),
}
HOURS = {"m": 1 / 60, "h": 1, "d": 24}
DAYS = 30  # the objectives' rolling window, as observability.md and slo.yml state it


def hours(window: str) -> float:
    number, unit = re.fullmatch(r"(\d+)([mhd])", window).groups()  # type: ignore[union-attr]
    return int(number) * HOURS[unit]


def test_the_objectives_are_the_rules_targets_and_budgets() -> None:
    doc = words(OBS)
    assert f"over a rolling {DAYS} days" in doc
    assert f"over {DAYS} days:" in text(SLO)
    # "about 43 minutes of full outage in 30 days": the availability budget as time.
    outage = re.search(r"about (\d+) minutes of full outage in (\d+) days", doc)
    assert outage and int(outage.group(2)) == DAYS
    assert round(budgets()["availability"] * DAYS * 24 * 60) == int(outage.group(1))
    # "99 % of API requests complete within 500 ms": the 0.5 s bucket in every slow ratio.
    latency = re.search(r"complete within (\d+) ms", doc).group(1)  # type: ignore[union-attr]
    slow = [rule for name, rule in rules(SLO).items() if name.startswith("api:request_slow:")]
    assert slow and all(f'le="{int(latency) / 1000}"' in rule["expr"] for rule in slow)
    # Every alert of an objective names it and spends its budget.
    for slo, names in ALERTS.items():
        for name in names:
            rule = rules(SLO)[name]
            assert rule["labels"]["slo"] == slo, name
            factors = re.findall(r"> \([\d.]+ \* ([\d.]+)\)", rule["expr"])
            assert factors and {float(f) for f in factors} == {budgets()[slo]}, name


def test_the_recorded_windows_are_those_the_doc_lists() -> None:
    listed = re.search(r"for (\w+(?:, \w+)*) and (\w+)\. With no API request", words(OBS))
    assert listed, "observability.md no longer lists the recording rules' windows"
    windows = {*listed.group(1).split(", "), listed.group(2)}
    for ratio in ("errors", "slow"):
        recorded = {
            name.rsplit("ratio_rate", 1)[1]
            for name in rules(SLO)
            if name.startswith(f"api:request_{ratio}:ratio_rate")
        }
        assert recorded == windows, ratio


def burn_rows() -> list[tuple[tuple[str, ...], str, str, str, float, str]]:
    """The burn-rate table: (alerts, severity, long window, short window, rate, budget spent),
    an empty cell carrying the row above's."""
    rows = []
    alerts: tuple[str, ...] = ()
    severity = ""
    header = "| alert | severity | long and short window | burn rate | budget spent |"
    for names, level, windows, rate, spent in table(OBS, header):
        alerts = tuple(re.findall(r"`(\w+)`", names)) or alerts
        severity = level.split(":")[0] or severity
        long, short = windows.split(" and ")
        rows.append((alerts, severity, long, short, float(rate.lstrip("> ")), spent))
    return rows


SPENT_IN = {"an hour": 1, "6 hours": 6, "a day": 24, "3 days": 72}


def test_the_burn_rate_table_is_the_rules_windows_rates_and_severities() -> None:
    rows = burn_rows()
    documented: dict[str, set[tuple[str, str, float]]] = {}
    for alerts, severity, long, short, rate, spent in rows:
        # "2 % in an hour": the share of the 30-day budget the rate spends over the long window.
        share, within = re.fullmatch(r"(\d+) % in (.+)", spent).groups()  # type: ignore[union-attr]
        assert SPENT_IN[within] == hours(long), spent
        assert round(100 * rate * hours(long) / (DAYS * 24), 6) == int(share), spent
        for alert in alerts:
            assert rules(SLO)[alert]["labels"]["severity"] == severity, alert
            documented.setdefault(alert, set()).add((long, short, rate))
    assert set(documented) == {name for names in ALERTS.values() for name in names}
    for alert, conditions in documented.items():
        # Each condition of the expression: the long window and the short one, the same rate.
        terms = re.findall(r"ratio_rate(\w+) > \(([\d.]+) \*", rules(SLO)[alert]["expr"])
        pairs = list(zip(terms[::2], terms[1::2], strict=True))
        assert all(lrate == srate for (_, lrate), (_, srate) in pairs), alert
        found = {(long, short, float(rate)) for (long, rate), (short, _) in pairs}
        assert found == conditions, f"{alert}: slo.yml has {found}, observability.md {conditions}"


# --- the probes -----------------------------------------------------------------------------


def test_the_probe_table_gives_prometheus_s_targets_and_blackbox_s_statuses() -> None:
    config = yaml.safe_load(text("prometheus/prometheus.yml"))
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "blackbox")
    targets = {
        group["labels"]["probe"]: target
        for group in job["static_configs"]
        for target in group["targets"]
    }
    modules = yaml.safe_load(text("blackbox/blackbox.yml"))["modules"]
    rows = {row[0].strip("`"): row for row in table(OBS, "| probe | request | succeeds when |")}
    assert set(rows) == set(targets) == set(modules)
    for probe, (_, request, succeeds) in rows.items():
        if request != "the same":
            assert request.startswith(f"`GET {targets[probe]}`"), probe
        codes = modules[probe]["http"]["valid_status_codes"]
        said = [int(code) for code in re.findall(r"\b(\d{3})\b", succeeds)]
        assert said == codes, probe
        # The body's "status": "ok" is named where the module requires it, and only there.
        body = modules[probe]["http"].get("fail_if_body_not_matches_regexp")
        assert ('`"status": "ok"`' in succeeds) == bool(body), probe
        assert ("HTTP/2" in succeeds) == ("valid_http_versions" in modules[probe]["http"]), probe
    # "Prometheus runs each probe at every scrape (15 s)": the job keeps the global interval.
    assert "Prometheus runs each probe at every scrape (15 s)" in words(OBS)
    assert job.get("scrape_interval", config["global"]["scrape_interval"]) == "15s"


def test_the_doc_counts_the_dashboards_it_ships() -> None:
    dashboards = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
    count = {1: "one", 2: "two", 3: "three", 4: "four"}[len(dashboards)]
    assert f"holds {count} Grafana dashboards as JSON" in words(OBS)


# --- the promtool tests' timings, as the doc tells them ------------------------------------


def duration(value: str) -> float:
    """A Prometheus duration (`3d14h`, `70m`) in minutes."""
    units = {"d": 1440, "h": 60, "m": 1, "s": 1 / 60}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([dhms])", value))


def verdicts(path: str, alert: str) -> dict[float, bool]:
    """Minute of each evaluation of ALERT in a promtool test file -> whether it expects it."""
    found = {}
    for case in yaml.safe_load(text(path))["tests"]:
        for check in case.get("alert_rule_test", []):
            if check["alertname"] == alert:
                found[duration(check["eval_time"])] = bool(check["exp_alerts"])
    return found


def test_the_fast_burn_pages_within_the_minutes_the_doc_says() -> None:
    said = re.search(
        r"(\d+) % of requests failing \(or every request slow\) after an hour of clean traffic "
        r"pages within (\d+) minutes",
        words(OBS),
    )
    assert said, "observability.md no longer gives the fast burn's timing"
    case = yaml.safe_load(text("prometheus/tests/slo_test.yml"))["tests"][0]
    series = {s["series"]: s["values"] for s in case["input_series"]}
    errors = next(v for k, v in series.items() if 'url_rule="/api/items", status="500"' in k)
    # '0x60 6+6x40': no failure for the first hour (61 samples a minute apart), then 6 a minute.
    clean, bad = re.fullmatch(r"0x(\d+) (\d+)\+\d+x\d+", errors).groups()  # type: ignore[union-attr]
    assert case["interval"] == "1m" and int(clean) == 60
    assert round(100 * int(bad) / (60 + int(bad))) == int(said.group(1))
    starts = int(clean) + 1
    for alert in ("ApiErrorBudgetFastBurn", "ApiLatencyBudgetFastBurn"):
        times = verdicts("prometheus/tests/slo_test.yml", alert)
        first = min(t for t, fires in times.items() if fires)
        assert first - starts <= int(said.group(2)), alert
        assert not any(fires for t, fires in times.items() if t < first), alert


def test_the_slow_burn_opens_a_ticket_in_the_hours_the_doc_says() -> None:
    said = re.search(
        r"after three clean days, ([\d.]+) % failing \(([\d.]+) % slow\) opens a ticket between "
        r"(\d+) and (\d+) hours in \(none at ([\d, or]+) hours, one at (\d+)\), and never pages",
        words(OBS),
    )
    assert said, "observability.md no longer gives the slow burn's timing"
    low, high, none_at, one_at = said.group(3), said.group(4), said.group(5), said.group(6)
    assert one_at == high
    silent = [int(h) for h in re.findall(r"\d+", none_at)]
    assert max(silent) == int(low)
    path = "prometheus/tests/slo_slow_burn_test.yml"
    # Each series' growth per sample once the burn starts: '0x2160 0.6+0.6x480' grows by 0.6.
    case = yaml.safe_load(text(path))["tests"][0]
    growth = {}
    for series in case["input_series"]:
        step = re.search(r"\+([\d.]+)x\d+$", series["values"]).group(1)  # type: ignore[union-attr]
        growth[re.search(r'status="(\d+)"(, le="([\d.]+)")?', series["series"]).groups()] = float(
            step
        )
    total = growth[("200", None, None)] + growth[("500", None, None)]
    fast = sum(step for (_, le, _), step in growth.items() if le)
    assert round(100 * growth[("500", None, None)] / total, 1) == float(said.group(1))
    assert round(100 * (1 - fast / total), 1) == float(said.group(2))
    for alert in ("ApiErrorBudgetSlowBurn", "ApiLatencyBudgetSlowBurn"):
        times = verdicts(path, alert)
        for hour in silent:
            assert times[duration(f"3d{hour}h")] is False, f"{alert} at {hour} h"
        assert times[duration(f"3d{high}h")] is True, f"{alert} at {high} h"
    for alert in ("ApiErrorBudgetFastBurn", "ApiLatencyBudgetFastBurn"):
        times = verdicts(path, alert)
        assert times and not any(times.values()), f"{alert}: never pages"
