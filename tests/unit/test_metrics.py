"""daemon/metrics.py: the drift collector and the HTTP server, scraped over real HTTP."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from tfo.config.drift_models import RUN_DURATION_BUCKETS, DriftReport, DriftStatus, Histogram, WorkspaceDrift
from tfo.config.payloads import ChangeCounts, ResourceChange
from tfo.daemon.metrics import TERRAFORM_BUCKETS, DriftCollector, MetricsServer, terraform_histogram

CHECKED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def sample_report(config: str = "prod") -> DriftReport:
    """vpc drifted (1 update, 1 delete), eks clean, dns errored; some checks and runs."""
    plan = Histogram()
    for seconds in (0.5, 7.0, 45.0):
        plan.observe(seconds)
    apply = Histogram()
    apply.observe(120.0)
    return DriftReport(
        config=config,
        workspaces={
            "vpc": WorkspaceDrift(
                status=DriftStatus.DRIFTED,
                cause="out_of_band",
                changes=ChangeCounts(update=1, delete=1),
                resources=[
                    ResourceChange(address="null_resource.a", action="update"),
                    ResourceChange(address="null_resource.b", action="delete"),
                ],
                checked_at=CHECKED_AT.isoformat(),
                run_id="run-1",
            ),
            "eks": WorkspaceDrift(status=DriftStatus.CLEAN, checked_at=CHECKED_AT.isoformat(), run_id="run-1"),
            "dns": WorkspaceDrift(
                status=DriftStatus.ERRORED, error="Error: boom", checked_at=CHECKED_AT.isoformat(), run_id="run-1"
            ),
        },
        checks_total={"vpc": {"clean": 3, "drifted": 2}, "eks": {"clean": 5}, "dns": {"errored": 1}},
        run_durations={"plan": plan, "apply": apply},
    )


def populated_registry(
    fetch: Callable[[], list[DriftReport]] | None = None,
) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(DriftCollector(fetch or (lambda: [sample_report()])))
    histogram = terraform_histogram(registry)
    histogram.labels(command="plan").observe(3.2)
    histogram.labels(command="init").observe(0.2)
    return registry


@contextmanager
def serving(registry: CollectorRegistry, ready: Callable[[], bool] = lambda: True) -> Iterator[str]:
    server = MetricsServer(registry, port=0, host="127.0.0.1", ready=ready)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} from a real HTTP scrape of /metrics."""
    with serving(registry) as base:
        status, content_type, text = get(base + "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture(scope="module")
def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return scrape(populated_registry())


def test_workspace_drifted(samples: dict) -> None:
    assert value(samples, "tfo_workspace_drifted", config="prod", workspace="vpc") == 1
    assert value(samples, "tfo_workspace_drifted", config="prod", workspace="eks") == 0
    assert value(samples, "tfo_workspace_drifted", config="prod", workspace="dns") == 0


def test_workspace_resource_changes_by_action(samples: dict) -> None:
    expected = {"create": 0, "update": 1, "delete": 1, "replace": 0}
    for action, count in expected.items():
        assert value(samples, "tfo_workspace_resource_changes", config="prod", workspace="vpc", action=action) == count
        assert value(samples, "tfo_workspace_resource_changes", config="prod", workspace="eks", action=action) == 0
    actions = {dict(labels)["action"] for name, labels in samples if name == "tfo_workspace_resource_changes"}
    assert actions == set(expected)


def test_workspace_check_status_is_one_hot(samples: dict) -> None:
    for workspace, current in (("vpc", "drifted"), ("eks", "clean"), ("dns", "errored")):
        for status in ("clean", "drifted", "errored"):
            got = value(samples, "tfo_workspace_check_status", config="prod", workspace=workspace, status=status)
            assert got == (1 if status == current else 0), (workspace, status)


def test_last_check_timestamp(samples: dict) -> None:
    got = value(samples, "tfo_workspace_last_check_timestamp_seconds", config="prod", workspace="vpc")
    assert got == CHECKED_AT.timestamp()


def test_drift_checks_total_by_result(samples: dict) -> None:
    assert value(samples, "tfo_drift_checks_total", config="prod", workspace="vpc", result="clean") == 3
    assert value(samples, "tfo_drift_checks_total", config="prod", workspace="vpc", result="drifted") == 2
    assert value(samples, "tfo_drift_checks_total", config="prod", workspace="eks", result="clean") == 5
    assert value(samples, "tfo_drift_checks_total", config="prod", workspace="dns", result="errored") == 1


def test_run_duration_histogram_by_mode(samples: dict) -> None:
    def bucket(mode: str, le: str) -> float:
        return value(samples, "tfo_run_duration_seconds_bucket", config="prod", mode=mode, le=le)

    assert bucket("plan", "1.0") == 1
    assert bucket("plan", "10.0") == 2
    assert bucket("plan", "60.0") == 3
    assert bucket("plan", "+Inf") == 3
    assert value(samples, "tfo_run_duration_seconds_count", config="prod", mode="plan") == 3
    assert value(samples, "tfo_run_duration_seconds_sum", config="prod", mode="plan") == pytest.approx(52.5)
    assert bucket("apply", "60.0") == 0
    assert bucket("apply", "120.0") == 1
    assert value(samples, "tfo_run_duration_seconds_count", config="prod", mode="apply") == 1
    les = {dict(labels)["le"] for name, labels in samples if name == "tfo_run_duration_seconds_bucket"}
    assert les == {str(b) for b in RUN_DURATION_BUCKETS} | {"+Inf"}


def test_terraform_command_duration_histogram(samples: dict) -> None:
    def sample(suffix: str, **labels: str) -> float:
        return value(samples, f"tfo_terraform_command_duration_seconds_{suffix}", **labels)

    assert sample("count", command="plan") == 1
    assert sample("sum", command="plan") == pytest.approx(3.2)
    assert sample("bucket", command="plan", le="2.5") == 0
    assert sample("bucket", command="plan", le="5.0") == 1
    assert sample("bucket", command="init", le="0.25") == 1
    les = {dict(labels)["le"] for name, labels in samples if name == "tfo_terraform_command_duration_seconds_bucket"}
    assert les == {str(b) for b in TERRAFORM_BUCKETS} | {"+Inf"}


def test_workspace_metrics_carry_config_and_workspace_labels(samples: dict) -> None:
    workspace_metrics = {
        "tfo_workspace_drifted",
        "tfo_workspace_resource_changes",
        "tfo_workspace_check_status",
        "tfo_workspace_last_check_timestamp_seconds",
        "tfo_drift_checks_total",
    }
    seen = set()
    for name, labels in samples:
        if name in workspace_metrics:
            keys = dict(labels)
            assert keys["config"] == "prod"
            assert keys["workspace"] in {"vpc", "eks", "dns"}
            seen.add(name)
    assert seen == workspace_metrics


def test_exposition_types_and_names() -> None:
    """The exact names and types a Prometheus server sees, from the raw text."""
    with serving(populated_registry()) as base:
        _, _, text = get(base + "/metrics")
    for line in (
        "# TYPE tfo_workspace_drifted gauge",
        "# TYPE tfo_workspace_resource_changes gauge",
        "# TYPE tfo_workspace_check_status gauge",
        "# TYPE tfo_workspace_last_check_timestamp_seconds gauge",
        "# TYPE tfo_drift_checks_total counter",
        "# TYPE tfo_run_duration_seconds histogram",
        "# TYPE tfo_terraform_command_duration_seconds histogram",
    ):
        assert line in text.splitlines(), line
    assert 'tfo_workspace_drifted{config="prod",workspace="vpc"} 1.0' in text


def test_several_configs_and_no_reports() -> None:
    samples = scrape(populated_registry(lambda: [sample_report("prod"), sample_report("staging")]))
    assert value(samples, "tfo_workspace_drifted", config="staging", workspace="vpc") == 1
    assert value(samples, "tfo_workspace_drifted", config="prod", workspace="vpc") == 1

    empty = scrape(populated_registry(lambda: []))
    assert not any(name.startswith("tfo_workspace_") for name, _ in empty)
    # Terraform durations are per process and do not depend on the ledger.
    assert value(empty, "tfo_terraform_command_duration_seconds_count", command="plan") == 1


def test_metrics_are_read_at_scrape_time() -> None:
    reports = [sample_report()]
    registry = populated_registry(lambda: reports)
    assert value(scrape(registry), "tfo_workspace_drifted", config="prod", workspace="vpc") == 1
    fixed = sample_report()
    fixed.workspaces["vpc"] = WorkspaceDrift(status=DriftStatus.CLEAN, checked_at=CHECKED_AT.isoformat(), run_id="r2")
    reports[:] = [fixed]
    after = scrape(registry)
    assert value(after, "tfo_workspace_drifted", config="prod", workspace="vpc") == 0
    assert value(after, "tfo_workspace_resource_changes", config="prod", workspace="vpc", action="delete") == 0


def test_healthz_readyz_and_unknown_paths() -> None:
    ready = {"ok": True}
    with serving(CollectorRegistry(), ready=lambda: ready["ok"]) as base:
        assert get(base + "/healthz")[0] == 200
        assert get(base + "/readyz")[0] == 200
        ready["ok"] = False
        status, _, body = get(base + "/readyz")
        assert status == 503
        assert "not ready" in body
        # Liveness does not depend on readiness.
        assert get(base + "/healthz")[0] == 200
        assert get(base + "/nope")[0] == 404
        assert get(base + "/")[0] == 404
        assert get(base + "/metrics?x=1")[0] == 200
