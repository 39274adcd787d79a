"""deploy/: the Grafana dashboard and the Prometheus alert rules name metrics the proxy exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests import support

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "enphase-proxy.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ("alerts_test.yml", "alerts_aging_test.yml")  # promtool unit tests beside ALERTS
METRIC = re.compile(r"\benphase_proxy_[a-z_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
WANTED_ALERTS = {
    "EnphaseTenantNeedsReauthorization",
    "EnphaseMonthBudgetForecastExhausted",
    "EnphaseUpstreamErrorRateHigh",
    "EnphaseRefreshTokenAging",
}


@pytest.fixture(scope="module")
def exported(client: httpx2.Client) -> set[str]:
    """The series names a live proxy's /metrics exports (after a little traffic)."""
    auth = {"key": "demo-v2-key", "user_id": "demo-user"}
    client.get("/api/v2/systems/1001/summary", params=auth)
    text = client.get("/metrics", headers=support.SCRAPE).text
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in SUFFIXES.get(family.type, ())
    }


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel of the dashboard, rows' nested panels included."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def test_the_grafana_dashboard_queries_only_exported_metrics(exported: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert dashboard["title"] and dashboard["uid"]
    queried = [p for p in panels(dashboard) if p["type"] != "row"]
    assert len(queried) >= 10
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in queried:
        assert panel["targets"], panel["title"]
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys()
        for target in panel["targets"]:
            names = set(METRIC.findall(target["expr"]))
            assert names, (panel["title"], target["expr"])
            assert names <= exported, (panel["title"], names - exported)
    shown = {name for p in queried for t in p["targets"] for name in METRIC.findall(t["expr"])}
    for topic in ("requests", "cache", "upstream_latency", "quota", "token_refresh", "reauth"):
        assert any(topic in name for name in shown), topic


def test_the_alert_rules_parse_and_query_only_exported_metrics(exported: set[str]) -> None:
    rules = yaml.safe_load(ALERTS.read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert set(alerts) == WANTED_ALERTS
    for name, rule in alerts.items():
        names = set(METRIC.findall(rule["expr"]))
        assert names and names <= exported, (name, names - exported)
        assert rule["annotations"]["summary"]


def test_promtool_accepts_the_rules_and_they_fire_when_they_should() -> None:
    assert shutil.which("promtool"), "promtool is not installed (tests/run.sh installs it)"
    checked = subprocess.run(
        ["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        ["promtool", "test", "rules", *ALERT_TESTS],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ALERTS.parent,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
