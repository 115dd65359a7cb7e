"""Drift payloads: what a check found per workspace, the ledger's state, alerts."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tfo.config.drift_config import AlertEvent, AlertsConfig
from tfo.config.payloads import Baseline, ChangeCounts, CheckResult, IgnoredChange, ResourceChange, RunReport
from tfo.config.plan_models import OmitDefaults
from tfo.config.policy_models import PolicyVerdict

# Buckets of tfo_run_duration_seconds, in seconds.
RUN_DURATION_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class DriftStatus(StrEnum):
    """A workspace's drift status.

    clean: the plan has no changes. drifted: something outside tfo's inputs changed.
    pending: the changes follow from a change on tfo's side since the baseline
    (unapplied changes). errored: the check failed. unknown: the check could not
    reach the workspace (an upstream failed or was skipped); never shown as clean.
    """

    CLEAN = "clean"
    DRIFTED = "drifted"
    PENDING = "pending"
    ERRORED = "errored"
    UNKNOWN = "unknown"


# Why a plan has changes, most telling first:
# out_of_band: terraform lists resource_drift (a change made outside terraform);
# state: nothing on tfo's side changed and no resource drift is listed, but the
#   plan changes (state edited or removed);
# code, variables, inputs, versions: that part of the baseline changed;
# outputs_only: only output values change;
# unknown: no baseline yet, and terraform cannot tell (no resource drift listed).
ChangeCause = Literal["out_of_band", "state", "code", "variables", "inputs", "versions", "outputs_only", "unknown"]
CAUSE_ORDER: tuple[str, ...] = ("out_of_band", "state", "code", "variables", "inputs", "versions", "outputs_only")
# Transitions kept per workspace, and in one ledger shard (oldest dropped first).
MAX_TRANSITIONS = 20
MAX_LEDGER_TRANSITIONS = 1000


class Transition(_Payload):
    """A change of a workspace's drift status."""

    at: str
    from_status: DriftStatus | None = None
    to_status: DriftStatus
    causes: list[str] = Field(default_factory=list)
    run_id: str = ""

    def public_json(self) -> dict[str, object]:
        return {
            "at": self.at,
            "from": self.from_status.value if self.from_status else None,
            "to": self.to_status.value,
            "causes": self.causes,
            "run_id": self.run_id,
        }


class WorkspaceDrift(OmitDefaults):
    status: DriftStatus
    cause: str | None = None  # the main one of `causes` (a ChangeCause)
    causes: list[str] = Field(default_factory=list)
    # Why an unknown workspace was not checked, e.g. "upstream vpc did not succeed".
    reason: str | None = None
    # When the current status began; it survives restarts (the ledger is durable).
    since: str | None = None
    baseline: Baseline | None = None
    checks: list[CheckResult] = Field(default_factory=list)
    ignored: list[IgnoredChange] = Field(default_factory=list)
    policy: list[PolicyVerdict] = Field(default_factory=list)  # slimmed by run_report.slim_for_ledger
    diff_truncated: bool = False
    terraform_version: str | None = None
    # The git commit this check planned at (configs with a git source).
    commit: str | None = None
    changes: ChangeCounts = Field(default_factory=ChangeCounts)
    resources: list[ResourceChange] = Field(default_factory=list)
    drift: list[ResourceChange] = Field(default_factory=list)
    output_changes: list[str] = Field(default_factory=list)
    at_risk: bool = False
    at_risk_from: list[str] = Field(default_factory=list)
    # The upstream outputs this workspace reads ("vpc.id"): at-risk is worked out from
    # them across ledger shards (an upstream may live in another shard).
    consumes: list[str] = Field(default_factory=list)
    error: str | None = None
    # The open remediation run of this drift (remediate: propose|auto), and the drift
    # it answers: a different drift supersedes it.
    proposal: str | None = None
    proposal_fingerprint: str = ""
    checked_at: str
    run_id: str
    last_alert_at: str | None = None
    # On an errored result: the status and fingerprint of the last check that did not
    # error, so drifted -> errored -> clean still alerts "resolved" and the same drift
    # seen again after a failed check is not announced as new.
    settled_status: DriftStatus | None = None
    settled_fingerprint: str = ""
    settled_since: str | None = None

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

    config: str  # the name: the `config` label of metrics and alerts
    # The ledger's key (LoadedConfig.id); empty from runs started before it existed.
    config_id: str = ""
    report: RunReport
    consumes: dict[str, list[tuple[str, str]]] = Field(default_factory=dict)
    alerts: AlertsConfig | None = None
    ui_url: str | None = None
    namespace: str = "default"
    duration_seconds: float = 0.0
    # A large run arrives in parts (report.workspaces split); the run counts once.
    part: int = 0
    parts: int = 1
    # The ledger shard these parts go to (see ledger_shard); None: the single ledger of
    # runs recorded before shards existed.
    shard: int | None = None
    # The one shard of a run that keeps its run-level figures (run durations).
    primary: bool = True
    # False in the records of a big run's segments: the run counts once, at the
    # (workspace-less) record its ParentWorkflow sends after every segment recorded.
    counted: bool = True
    # Workspaces of this part whose drift starts a remediation run: name -> propose|auto.
    remediate: dict[str, str] = Field(default_factory=dict)
    # Where a remediation's `tfo approve` finds the run (the checked config's state dir).
    state_dir: str = ""


class RecordBatch(_Payload):
    """Records for several ledger shards, one each, handed over by one activity (at
    most RECORD_BATCH_BYTES of them, workflows.run_report; workflows.run_end packs them)."""

    records: list[RecordRun]


class RemediationAction(_Payload):
    """A remediation run for the ledger to start (propose) or stop (cancel)."""

    kind: Literal["propose", "cancel"]
    workspace: str
    # propose: the scheduled check whose config the fix runs with; cancel: the run to stop.
    run_id: str
    auto: bool = False
    # propose: the new run's ID, chosen by the ledger so a retried start is idempotent.
    new_run_id: str = ""
    state_dir: str = ""


class LedgerState(_Payload):
    """Everything the drift ledger knows; carried across continue-as-new."""

    config: str
    shard: int | None = None
    workspaces: dict[str, WorkspaceDrift] = Field(default_factory=dict)
    checks_total: dict[str, dict[str, int]] = Field(default_factory=dict)
    run_durations: dict[str, Histogram] = Field(default_factory=dict)
    outbox: list[AlertRequest] = Field(default_factory=list)
    actions: list[RemediationAction] = Field(default_factory=list)
    alerts: AlertsConfig | None = None
    alerts_sent: int = 0
    records: int = 0
    history: dict[str, list[Transition]] = Field(default_factory=dict)
    # Set when this ledger replaced one that Temporal terminated or that went missing.
    lost_note: str | None = None


class DriftReport(_Payload):
    """The `report` query answer: the latest drift state of one config."""

    config: str
    workspaces: dict[str, WorkspaceDrift] = Field(default_factory=dict)
    checks_total: dict[str, dict[str, int]] = Field(default_factory=dict)
    run_durations: dict[str, Histogram] = Field(default_factory=dict)
    alerts_pending: int = 0
    alerts_sent: int = 0
    lost_note: str | None = None


class HistoryReport(_Payload):
    """The `history` query answer: transitions per workspace."""

    config: str
    workspaces: dict[str, list[Transition]] = Field(default_factory=dict)


def ledger_id(config_id: str, shard: int | None = None) -> str:
    """A drift ledger shard's workflow ID, from the config's identity (not its bare name).

    shard None: the single, unsharded ledger that tfo 0.2 kept (read for upgrades)."""
    base = f"tfo-drift-ledger-{config_id}"
    return base if shard is None else f"{base}-s{shard:02d}"
