"""Prometheus metrics, health endpoints and their HTTP server.

Drift gauges and counters are read from the drift ledger (a Temporal query) at
scrape time, so every daemon exports the same values, and a restarted daemon
exports the right ones before its first check. Terraform command durations are
per process, like any worker metric.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from tfo.config import drift_models
from tfo.config.drift_models import RUN_DURATION_BUCKETS, DriftReport, DriftStatus
from tfo.config.ledger_shards import merge_durations

ACTIONS = ("create", "update", "delete", "replace")
TERRAFORM_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


@dataclass(frozen=True, slots=True)
class WorkspaceGauges:
    """What a scrape shows of one workspace: a few numbers, not its whole drift record."""

    status: DriftStatus
    changes: tuple[int, ...]  # in ACTIONS order
    checked_at: float
    since: float
    checks_failed: int


@dataclass(frozen=True, slots=True)
class ConfigGauges:
    """What a scrape shows of one config's drift report (~250 bytes a workspace, where
    the report itself is a few KB: the daemon keeps this between scrapes)."""

    config: str
    workspaces: dict[str, WorkspaceGauges]
    checks_total: dict[str, dict[str, int]]
    run_durations: dict[str, drift_models.Histogram]

    @classmethod
    def of(cls, report: DriftReport) -> ConfigGauges:
        def stamp(value: str) -> float:
            return datetime.fromisoformat(value).timestamp()

        workspaces = {
            name: WorkspaceGauges(
                status=ws.status,
                changes=tuple(getattr(ws.changes, action) for action in ACTIONS),
                checked_at=stamp(ws.checked_at),
                since=stamp(ws.since or ws.checked_at),
                checks_failed=len(ws.checks),
            )
            for name, ws in report.workspaces.items()
        }
        return cls(report.config, workspaces, report.checks_total, report.run_durations)

    @classmethod
    def merge(cls, parts: list[ConfigGauges]) -> ConfigGauges:
        """One config's gauges from those of disjoint sets of its ledger shards."""
        return cls(
            parts[0].config,
            dict(sorted(item for p in parts for item in p.workspaces.items())),
            {name: counts for p in parts for name, counts in p.checks_total.items()},
            merge_durations(p.run_durations for p in parts),
        )


class DriftCollector:
    """Turns drift reports into tfo_workspace_* metrics on every scrape.

    Args:
        fetch: Returns the current report of each config this daemon serves.
    """

    def __init__(self, fetch: Callable[[], Sequence[DriftReport | ConfigGauges]]) -> None:
        self._fetch = fetch

    def collect(self) -> Iterable[Metric]:
        drifted = GaugeMetricFamily(
            "tfo_workspace_drifted",
            "1 if the workspace drifted (changed outside tfo's inputs) at its last check",
            labels=["config", "workspace"],
        )
        changes = GaugeMetricFamily(
            "tfo_workspace_resource_changes",
            "Resource changes at the last check",
            labels=["config", "workspace", "action"],
        )
        status = GaugeMetricFamily(
            "tfo_workspace_check_status",
            "1 for the workspace's current check status",
            labels=["config", "workspace", "status"],
        )
        last = GaugeMetricFamily(
            "tfo_workspace_last_check_timestamp_seconds", "Unix time of the last check", labels=["config", "workspace"]
        )
        since = GaugeMetricFamily(
            "tfo_workspace_status_since_timestamp_seconds",
            "Unix time when the workspace's current drift status began",
            labels=["config", "workspace"],
        )
        checks_failed = GaugeMetricFamily(
            "tfo_workspace_checks_failed",
            "Terraform check blocks and conditions failing at the last check",
            labels=["config", "workspace"],
        )
        checks = CounterMetricFamily(
            "tfo_drift_checks", "Drift checks by result", labels=["config", "workspace", "result"]
        )
        durations = HistogramMetricFamily("tfo_run_duration_seconds", "Run durations", labels=["config", "mode"])
        for fetched in self._fetch():
            report = fetched if isinstance(fetched, ConfigGauges) else ConfigGauges.of(fetched)
            for name, ws in sorted(report.workspaces.items()):
                labels = [report.config, name]
                drifted.add_metric(labels, 1.0 if ws.status == DriftStatus.DRIFTED else 0.0)
                for action, count in zip(ACTIONS, ws.changes, strict=True):
                    changes.add_metric([*labels, action], float(count))
                for value in DriftStatus:
                    status.add_metric([*labels, value.value], 1.0 if ws.status == value else 0.0)
                last.add_metric(labels, ws.checked_at)
                since.add_metric(labels, ws.since)
                checks_failed.add_metric(labels, float(ws.checks_failed))
            for name, counts in sorted(report.checks_total.items()):
                for result, count in sorted(counts.items()):
                    checks.add_metric([report.config, name, result], float(count))
            for mode, hist in sorted(report.run_durations.items()):
                buckets = [(str(bound), float(n)) for bound, n in zip(RUN_DURATION_BUCKETS, hist.buckets, strict=True)]
                buckets.append(("+Inf", float(hist.count)))
                durations.add_metric([report.config, mode], buckets, hist.total)
        yield from (drifted, changes, status, last, since, checks_failed, checks, durations)


def terraform_histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "tfo_terraform_command_duration_seconds",
        "Duration of terraform commands run by this worker",
        labelnames=["command"],
        buckets=TERRAFORM_BUCKETS,
        registry=registry,
    )


class MetricsServer:
    """Serves /metrics, /healthz (alive) and /readyz (connected and polling) on one port."""

    def __init__(
        self, registry: CollectorRegistry, *, port: int, ready: Callable[[], bool], host: str = "0.0.0.0"
    ) -> None:
        self._registry = registry
        self._ready = ready
        handler = self._handler()
        self._server = ThreadingHTTPServer((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="tfo-metrics", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(server._registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._send(200, b"ok\n", "text/plain")
                elif path == "/readyz":
                    ok = server._ready()
                    self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n", "text/plain")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # scrapes every 15 s would flood the daemon's log

        return Handler
