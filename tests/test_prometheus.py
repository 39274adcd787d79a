"""/metrics as Prometheus sees it: every declared metric from the start, and a real Prometheus
scraping two replicas and evaluating the shipped alert rules on what it scraped."""

from __future__ import annotations

import json
import re
import shutil
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from prometheus_client import Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from proxy.observability import metrics
from tests import support

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "enphase-proxy.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
METRIC = re.compile(r"\benphase_proxy_[a-z_]+\b")
AUTH = {"key": "demo-v2-key", "user_id": "demo-user"}
TEAM = {"Authorization": "Bearer demo-team-key"}
FRESH = "fresh-tenant"  # a tenant no other test names: its series start here


def declared() -> dict[str, MetricWrapperBase]:
    """The proxy's metrics by exposition name (counters without their ``_total``)."""
    found = [m for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)]
    return {next(iter(metric.describe())).name: metric for metric in found}


def families(text: str) -> dict[str, Metric]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_every_declared_metric_is_exported_before_its_first_event(tmp_path: Path) -> None:
    with support.unmetered_sandbox() as sandbox_url:
        config = support.proxy_config(sandbox_url, tmp_path, name=FRESH, user_ids=["fresh-user"])
        with support.proxy(config) as url:
            text = httpx2.get(url + "/metrics", headers=support.SCRAPE).text
    exported = families(text)
    # The refresh token's age appears with the first token (0 would read as 1970).
    wanted = set(declared()) - {"enphase_proxy_refresh_token_obtained_timestamp_seconds"}
    assert wanted <= set(exported), wanted - set(exported)
    for name in wanted:  # with its HELP and TYPE
        described = next(iter(declared()[name].describe()))
        assert (exported[name].documentation, exported[name].type) == (
            described.documentation,
            described.type,
        ), name
    of_fresh = {
        (s.name, s.labels.get("outcome", "")): s.value
        for family in exported.values()
        for s in family.samples
        if s.labels.get("tenant") == FRESH
    }
    assert of_fresh[("enphase_proxy_token_refresh_total", "ok")] == 0
    assert of_fresh[("enphase_proxy_token_refresh_total", "rejected")] == 0
    assert of_fresh[("enphase_proxy_token_refresh_total", "error")] == 0
    assert of_fresh[("enphase_proxy_reauthorization_needed_total", "")] == 0
    upstream = exported["enphase_proxy_upstream_requests"].samples
    assert {s.labels["endpoint"] for s in upstream} >= {"summary", "systems", "rgm_stats"}


def named_metrics() -> set[str]:
    """Every series name the shipped dashboard and alert rules query."""
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for top in dashboard["panels"] for p in (top, *top.get("panels", []))]
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    rules = yaml.safe_load(ALERTS.read_text())
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    return {name for expr in exprs for name in METRIC.findall(expr)}


def prometheus_config(targets: list[str], directory: Path) -> Path:
    """A Prometheus configuration scraping ``targets`` each second with the shipped rules."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {
                "job_name": "enphase-proxy",
                "authorization": {"credentials": "test-scrape-key"},
                "static_configs": [{"targets": targets}],
            }
        ],
    }
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    reply = httpx2.get(prometheus + "/api/v1/query", params={"query": expr}).json()
    assert reply["status"] == "success", reply
    result: list[dict[str, Any]] = reply["data"]["result"]
    return result


def replica_config(sandbox_url: str, redis_url: str, data_dir: Path) -> Path:
    """A replica's configuration: its own data directory, tokens, cache and quota on Redis."""
    text = support.token_config_text(
        sandbox_url, data_dir, redis_url=redis_url, tokens="check_interval = 1"
    )
    text = text.replace('backend = "memory"', 'backend = "redis"', 1)  # [quota]
    path = data_dir / "proxy.toml"
    data_dir.mkdir()
    path.write_text(text.replace("[redis]", '[cache]\nbackend = "redis"\n\n[redis]', 1))
    return path


@pytest.mark.slow
def test_a_real_prometheus_scrapes_two_replicas_and_evaluates_the_alert_rules(
    tmp_path: Path, redis_url: str
) -> None:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed (tests/run.sh installs it)"
    wanted = named_metrics()
    with ExitStack() as stack:
        sandbox_url = stack.enter_context(support.unmetered_sandbox())
        replicas = [
            stack.enter_context(
                support.serve_process(replica_config(sandbox_url, redis_url, tmp_path / n), 1)
            )
            for n in ("a", "b")
        ]
        for url in replicas:
            legacy = httpx2.get(url + "/api/v2/systems/1001/summary", params=AUTH, timeout=30)
            assert legacy.status_code == 200, legacy.text
            team = httpx2.get(url + "/api/v4/systems", headers=TEAM, timeout=30)
            assert team.status_code == 200, team.text
        targets = [url.removeprefix("http://") for url in replicas]
        port = support.free_port()
        command = [binary, f"--config.file={prometheus_config(targets, tmp_path)}"]
        command += [f"--storage.tsdb.path={tmp_path / 'tsdb'}"]
        command += [f"--web.listen-address=127.0.0.1:{port}"]
        stack.enter_context(support.running(command, port, tmp_path / "prometheus.log"))
        prometheus = f"http://127.0.0.1:{port}"

        deadline = time.monotonic() + 60
        missing = wanted
        while missing:
            assert time.monotonic() < deadline, f"never scraped from both replicas: {missing}"
            time.sleep(1)
            missing = {
                name
                for name in wanted
                if len(query(prometheus, f"count by (instance) ({name})")) < len(replicas)
            }
        up = query(prometheus, "up")
        assert sorted(s["value"][1] for s in up) == ["1", "1"]
        served = query(prometheus, 'sum(enphase_proxy_client_requests_total{status="2xx"})')
        assert float(served[0]["value"][1]) >= 4  # the legacy and team requests on each

        deadline = time.monotonic() + 30
        while True:
            groups = httpx2.get(prometheus + "/api/v1/rules").json()["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            if rules and all(rule["lastEvaluation"] > "2000" for rule in rules):
                break
            assert time.monotonic() < deadline, rules
            time.sleep(0.5)
    assert {rule["name"] for rule in rules} == {
        "EnphaseTenantNeedsReauthorization",
        "EnphaseMonthBudgetForecastExhausted",
        "EnphaseUpstreamErrorRateHigh",
        "EnphaseRefreshTokenAging",
    }
    assert all(rule["health"] == "ok" and not rule.get("lastError") for rule in rules), rules
    assert all(rule["state"] == "inactive" for rule in rules), rules  # a healthy pair
