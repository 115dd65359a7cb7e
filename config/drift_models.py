"""Drift payloads: what a check found per workspace, the ledger's state, alerts."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tfo.config.drift_config import AlertEvent, AlertsConfig
from tfo.config.payloads import ChangeCounts, ResourceChange, RunReport

# Buckets of tfo_run_duration_seconds, in seconds.
RUN_DURATION_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class DriftStatus(StrEnum):
    CLEAN = "clean"
    DRIFTED = "drifted"
    ERRORED = "errored"


# What a change is, as far as the terraform version can tell:
# out_of_band: terraform (>= 1.1) reported resource_drift;
# config: resource changes with no resource_drift reported by terraform >= 1.1;
# outputs_only: only output values change;
# unknown: resource changes on terraform 1.0, which cannot tell config from drift.
ChangeCause = Literal["out_of_band", "config", "outputs_only", "unknown"]


class WorkspaceDrift(_Payload):
    status: DriftStatus
    cause: ChangeCause | None = None
    changes: ChangeCounts = Field(default_factory=ChangeCounts)
    resources: list[ResourceChange] = Field(default_factory=list)
    drift: list[ResourceChange] = Field(default_factory=list)
    output_changes: list[str] = Field(default_factory=list)
    at_risk: bool = False
    at_risk_from: list[str] = Field(default_factory=list)
    error: str | None = None
    checked_at: str
    run_id: str
    last_alert_at: str | None = None
    # On an errored result: the status and fingerprint of the last check that did not
    # error, so drifted -> errored -> clean still alerts "resolved" and the same drift
    # seen again after a failed check is not announced as new.
    settled_status: DriftStatus | None = None
    settled_fingerprint: str = ""

    def fingerprint(self) -> str:
        """What makes two drifted results "the same drift"."""
        parts = [f"{r.action}:{r.address}" for r in self.resources] + [f"output:{o}" for o in self.output_changes]
        return "|".join(sorted(parts))


class Histogram(_Payload):
    buckets: list[int] = Field(default_factory=lambda: [0] * len(RUN_DURATION_BUCKETS))
    count: int = 0
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        for i, bound in enumerate(RUN_DURATION_BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1
        self.count += 1
        self.total += seconds


class AlertRequest(_Payload):
    """One alert to send. URLs stay templates: `${ENV}` expands only in the activity."""

    urls: list[str]
    event: AlertEvent
    title: str
    body: str
    workspace: str


class RecordRun(_Payload):
    """A finished run, sent to the config's drift ledger."""

    config: str
    report: RunReport
    consumes: dict[str, list[tuple[str, str]]] = Field(default_factory=dict)
    alerts: AlertsConfig | None = None
    ui_url: str | None = None
    namespace: str = "default"
    duration_seconds: float = 0.0


class LedgerState(_Payload):
    """Everything the drift ledger knows; carried across continue-as-new."""

    config: str
    workspaces: dict[str, WorkspaceDrift] = Field(default_factory=dict)
    checks_total: dict[str, dict[str, int]] = Field(default_factory=dict)
    run_durations: dict[str, Histogram] = Field(default_factory=dict)
    outbox: list[AlertRequest] = Field(default_factory=list)
    alerts: AlertsConfig | None = None
    alerts_sent: int = 0
    records: int = 0


class DriftReport(_Payload):
    """The `report` query answer: the latest drift state of one config."""

    config: str
    workspaces: dict[str, WorkspaceDrift] = Field(default_factory=dict)
    checks_total: dict[str, dict[str, int]] = Field(default_factory=dict)
    run_durations: dict[str, Histogram] = Field(default_factory=dict)
    alerts_pending: int = 0
    alerts_sent: int = 0


def ledger_id(config: str) -> str:
    return f"tfo-drift-ledger-{config}"
