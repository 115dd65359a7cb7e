"""The Grafana dashboard and Prometheus config in deploy/ match what tfo exports.

Every metric a dashboard query uses must be exported by the real collector (scraped over
HTTP from the real MetricsServer), every label it filters or groups by must exist on
that metric, and Prometheus must scrape the port the daemon listens on by default.
"""

from __future__ import annotations

import inspect
import json
import re
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import tfo.daemon.cli_services
from tfo.config.drift_models import DriftReport, DriftStatus, Histogram, WorkspaceDrift
from tfo.config.payloads import ChangeCounts, ResourceChange
from tfo.daemon.metrics import DriftCollector, MetricsServer, terraform_histogram

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana/dashboards/tfo-drift.json"
PROMETHEUS = DEPLOY / "prometheus/prometheus.yml"
DATASOURCE = DEPLOY / "grafana/provisioning/datasources/prometheus.yml"
PROVIDER = DEPLOY / "grafana/provisioning/dashboards/tfo.yml"

METRIC = re.compile(r"\btfo_[A-Za-z0-9_:]*")
SELECTOR = re.compile(r"\b(tfo_[A-Za-z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


# --- what tfo exports ------------------------------------------------------------------


def _sample_report() -> DriftReport:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC).isoformat()
    plan = Histogram()
    plan.observe(12.0)
    return DriftReport(
        config="prod",
        workspaces={
            "vpc": WorkspaceDrift(
                status=DriftStatus.DRIFTED,
                changes=ChangeCounts(update=1),
                resources=[ResourceChange(address="null_resource.a", action="update")],
                checked_at=now,
                run_id="run-1",
            ),
            "eks": WorkspaceDrift(status=DriftStatus.ERRORED, error="boom", checked_at=now, run_id="run-1"),
        },
        checks_total={"vpc": {"drifted": 1}, "eks": {"errored": 1}},
        run_durations={"plan": plan},
    )


@pytest.fixture(scope="module")
def exported() -> dict[str, Any]:
    """Scrape the real registry over HTTP: family name -> type, sample name -> label names."""
    registry = CollectorRegistry()
    registry.register(DriftCollector(lambda: [_sample_report()]))
    terraform_histogram(registry).labels(command="plan").observe(2.0)
    server = MetricsServer(registry, port=0, host="127.0.0.1", ready=lambda: True)
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as response:
            text = response.read().decode()
    finally:
        server.stop()
    families: dict[str, str] = {}
    samples: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
    return {"families": families, "samples": samples}


# --- what the dashboard queries -----------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # panels inside collapsed rows
    return out


def _exprs() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every templating query."""
    dashboard = _dashboard()
    found = [
        (f"panel {p['title']!r} target {t.get('refId')}", t["expr"])
        for p in _panels(dashboard)
        for t in p.get("targets", [])
        if t.get("expr")
    ]
    for var in dashboard["templating"]["list"]:
        query = var.get("query")
        text = query.get("query") if isinstance(query, dict) else query
        if text:
            found.append((f"variable {var['name']!r}", text))
    return found


def _family_of(name: str, families: dict[str, str]) -> tuple[str, str | None]:
    """The exported family a queried sample name belongs to, and the type it needs."""
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in families:
            return name.removesuffix(suffix), "histogram"
    if name.endswith("_total") and name.removesuffix("_total") in families:
        return name.removesuffix("_total"), "counter"
    return name, None


def test_dashboard_queries_something() -> None:
    exprs = _exprs()
    assert len(exprs) >= 8
    assert all(METRIC.search(expr) for _, expr in exprs), exprs


@pytest.mark.parametrize(("where", "expr"), _exprs(), ids=[w for w, _ in _exprs()])
def test_every_queried_metric_is_exported(exported: dict[str, Any], where: str, expr: str) -> None:
    families, samples = exported["families"], exported["samples"]
    for name in METRIC.findall(expr):
        assert name in samples, f"{where}: {name} is not exported (exported: {sorted(samples)})"
        family, needed = _family_of(name, families)
        assert family in families, f"{where}: no metric family {family}"
        if needed is not None:
            assert families[family] == needed, f"{where}: {name} needs a {needed}, {family} is a {families[family]}"
        else:
            # A bare name must not be a histogram (query its _bucket/_sum/_count).
            assert families[family] != "histogram", f"{where}: {name} is a histogram"


@pytest.mark.parametrize(("where", "expr"), _exprs(), ids=[w for w, _ in _exprs()])
def test_every_queried_label_exists(exported: dict[str, Any], where: str, expr: str) -> None:
    samples = exported["samples"]
    labels_in_expr: set[str] = set()
    for name, matchers in SELECTOR.findall(expr):
        for label in MATCHER.findall(matchers):
            assert label in samples[name], f"{where}: {name} has no label {label!r}"
    for name in METRIC.findall(expr):
        labels_in_expr |= samples[name]
    for grouping in GROUPING.findall(expr):
        for label in (part.strip() for part in grouping.split(",")):
            assert label in labels_in_expr, f"{where}: grouping by {label!r}, which no queried metric has"


def test_the_exported_names_are_the_documented_ones(exported: dict[str, Any]) -> None:
    """The issue's exact names, so a rename in the collector cannot pass silently."""
    # prometheus_client adds a `<histogram>_created` gauge per labelled histogram.
    families = {k: v for k, v in exported["families"].items() if not k.endswith("_created")}
    assert families == {
        "tfo_workspace_drifted": "gauge",
        "tfo_workspace_resource_changes": "gauge",
        "tfo_workspace_check_status": "gauge",
        "tfo_workspace_last_check_timestamp_seconds": "gauge",
        "tfo_workspace_status_since_timestamp_seconds": "gauge",
        "tfo_workspace_checks_failed": "gauge",
        "tfo_drift_checks": "counter",
        "tfo_run_duration_seconds": "histogram",
        "tfo_terraform_command_duration_seconds": "histogram",
    }


def test_dashboard_shows_what_the_issue_asks_for() -> None:
    exprs = " ".join(expr for _, expr in _exprs())
    for needle in (
        "sum(max by (config, workspace) (tfo_workspace_drifted",
        "tfo_workspace_resource_changes",
        "by (action)",
        "tfo_workspace_check_status",
        'increase(tfo_drift_checks_total{config=~"$config", workspace=~"$workspace", result="errored"}[1h])',
        "time() - max by (config, workspace) (tfo_workspace_last_check_timestamp_seconds",
        "histogram_quantile(0.95, sum by (le, mode) (rate(tfo_run_duration_seconds_bucket",
        "histogram_quantile(0.95, sum by (le, command) (rate(tfo_terraform_command_duration_seconds_bucket",
    ):
        assert needle in exprs, needle
    types = {p["title"]: p["type"] for p in _panels(_dashboard())}
    assert types["Drifted workspaces"] == "stat"
    assert types["Drift per workspace"] in ("state-timeline", "table")
    assert types["Resource changes by action"] == "timeseries"


def test_dashboard_structure() -> None:
    dashboard = _dashboard()
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"] == "tfo-drift"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert set(variables) == {"config", "workspace"}
    for var in variables.values():
        assert var["type"] == "query"
        assert var["definition"].startswith("label_values(")
        assert var["datasource"]["uid"] == "prometheus"
    assert "$config" in variables["workspace"]["definition"]
    panels = _panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "prometheus", panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "prometheus", panel["title"]
            if "workspace" in {label for _, m in SELECTOR.findall(target["expr"]) for label in MATCHER.findall(m)}:
                assert '=~"$workspace"' in target["expr"], panel["title"]


# --- provisioning and scrape config ----------------------------------------------------------


def _metrics_port_default() -> int:
    default = inspect.signature(tfo.daemon.cli_services.daemon_).parameters["metrics_port"].default
    assert isinstance(default, int)
    return default


def _targets(job: str) -> list[str]:
    config = yaml.safe_load(PROMETHEUS.read_text())
    [scrape] = [s for s in config["scrape_configs"] if s["job_name"] == job]
    return [t for group in scrape["static_configs"] for t in group["targets"]]


def test_prometheus_scrapes_the_daemons_default_metrics_port() -> None:
    port = _metrics_port_default()
    assert port == 9464
    targets = _targets("tfo")
    assert targets == [f"tfo-daemon:{port}"]
    assert all(int(t.rsplit(":", 1)[1]) == port for t in targets)


def test_prometheus_scrapes_the_temporal_sdk_metrics() -> None:
    assert _targets("temporal-sdk") == ["tfo-daemon:9465"]
    assert _targets("temporal-sdk") != _targets("tfo")


def test_prometheus_interval() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert config["global"]["scrape_interval"] == "15s"
    for scrape in config["scrape_configs"]:
        assert scrape.get("scrape_interval", "15s") == "15s"
        assert scrape.get("metrics_path", "/metrics") == "/metrics"


def test_grafana_provisioning() -> None:
    [source] = yaml.safe_load(DATASOURCE.read_text())["datasources"]
    assert source["uid"] == "prometheus"
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    [provider] = yaml.safe_load(PROVIDER.read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
