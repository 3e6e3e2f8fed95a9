"""Every query of every dashboard (grafana/dashboards/) returns data from the running stack's
Prometheus after a short load: what Grafana would draw, without Grafana (no Debian package
exists, so it cannot run here)."""

from __future__ import annotations

import json
import math
import uuid

from tests.support.edge import BASE, new_session
from tests.support.imports import import_items, post_import, wait_finished
from tests.support.prometheus import query
from tests.support.settings import ROOT
from tests.support.stack import WaitTimeout, wait_for

DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))


def queries() -> dict[str, str]:
    """Each target's expression, named by dashboard, panel and refId."""
    found = {}
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                found[f"{path.stem} / {panel['title']} / {target['refId']}"] = target["expr"]
    return found


def short_load() -> None:
    """What the panels need to have seen in the last 5 minutes: API reads and writes, cache
    look-ups (a miss, then a hit), and a job the workers ran."""
    session = new_session()
    created = session.post(f"{BASE}/api/items", json={"name": "dashboard"}, timeout=30)
    assert created.status_code == 201, created.text
    item = created.json()["id"]
    for _ in range(3):
        assert session.get(f"{BASE}/api/items/{item}", timeout=30).status_code == 200
        assert session.get(f"{BASE}/api/items?limit=5", timeout=30).status_code == 200
    accepted = post_import(session, import_items(3, f"dashboard-{uuid.uuid4().hex[:8]}"))
    assert accepted.status_code == 202, accepted.text
    assert wait_finished(session, accepted.json()["id"])["status"] == "succeeded"


def has_data(expr: str) -> bool:
    """At least one series with a number (NaN, a 0/0, is no data)."""
    return any(not math.isnan(float(s["value"][1])) for s in query(expr))


def test_every_dashboard_query_returns_data_after_a_short_load():
    exprs = queries()
    assert len(exprs) >= 40, f"only {len(exprs)} queries found"
    short_load()
    empty: list[str] = list(exprs)

    def all_have_data() -> bool:
        empty[:] = [name for name in empty if not has_data(exprs[name])]
        return not empty

    try:
        # Two scrapes (15 s apart) after the load make every rate; the rules evaluate on top.
        wait_for(all_have_data, 120, 5, "data for every dashboard query")
    except WaitTimeout:
        raise AssertionError(
            "no data for: " + "; ".join(f"{name}: {exprs[name]}" for name in empty)
        ) from None
