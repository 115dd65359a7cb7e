"""Models that the client, workflows and activities exchange.

Each workflow and activity takes one model and returns one, so fields can be added
without breaking running workflows. Payloads stay small: plan summaries travel,
plans do not; sensitive values travel by reference, never by value.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tfo.config.artifact_models import ArtifactRef, ArtifactsConfig
from tfo.config.config_pages import ConfigPages
from tfo.config.drift_config import AlertsConfig, IgnoreRule
from tfo.config.model import InputMapping, Operation, Remediate

# Re-exported: the plan models are part of every payload.
from tfo.config.plan_models import DIFF_MAX_ATTRIBUTES as DIFF_MAX_ATTRIBUTES
from tfo.config.plan_models import DIFF_MAX_VALUE_CHARS as DIFF_MAX_VALUE_CHARS
from tfo.config.plan_models import DIFF_MAX_WORKSPACE_BYTES as DIFF_MAX_WORKSPACE_BYTES
from tfo.config.plan_models import SENSITIVE as SENSITIVE
from tfo.config.plan_models import UNKNOWN_AFTER_APPLY as UNKNOWN_AFTER_APPLY
from tfo.config.plan_models import AttributeChange as AttributeChange
from tfo.config.plan_models import Baseline as Baseline
from tfo.config.plan_models import ChangeCounts as ChangeCounts
from tfo.config.plan_models import CheckResult as CheckResult
from tfo.config.plan_models import IgnoredChange as IgnoredChange
from tfo.config.plan_models import OutputValue as OutputValue
from tfo.config.plan_models import PlanSummary as PlanSummary
from tfo.config.plan_models import ResourceChange as ResourceChange
from tfo.config.policy_models import PolicyRule

# Re-exported: a run's report, which the run returns and clients read.
from tfo.config.report_models import TERMINAL as TERMINAL
from tfo.config.report_models import ApprovalDecision as ApprovalDecision
from tfo.config.report_models import Mode as Mode
from tfo.config.report_models import ReportPage as ReportPage
from tfo.config.report_models import RunReport as RunReport
from tfo.config.report_models import RunStatus as RunStatus
from tfo.config.report_models import WorkspaceReport as WorkspaceReport
from tfo.config.report_models import WorkspaceStatus as WorkspaceStatus
from tfo.config.source_models import GitSource, PinnedSource


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WorkspaceSpec(_Payload):
    """A workspace after normalisation: absolute paths, resolved binary and queue."""

    name: str
    dir: str
    tfvars: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)
    inputs: list[InputMapping] = Field(default_factory=list)
    operations: list[Operation]
    binary: str
    task_queue: str
    lock_key: str
    # The config's `drift.ignore` rules that apply to this workspace.
    drift_ignore: list[IgnoreRule] = Field(default_factory=list)
    remediate: Remediate = "alert"


class RunSettings(_Payload):
    """Timeouts and limits that apply to every workspace of a run."""

    parallelism: int = 4
    lock_timeout: timedelta = timedelta(minutes=5)
    timeout: timedelta = timedelta(hours=4)
    heartbeat_timeout: timedelta = timedelta(seconds=60)
    approval_timeout: timedelta = timedelta(hours=1)
    worker_timeout: timedelta = timedelta(minutes=10)


class ConfigSnapshot(_Payload):
    """A validated config, normalised by the client so the workflow does no I/O."""

    name: str
    # The config's identity (LoadedConfig.id); empty in runs recorded before it existed.
    id: str = ""
    path: str
    state_dir: str
    task_queue: str
    workspaces: list[WorkspaceSpec]
    settings: RunSettings
    alerts: AlertsConfig | None = None
    # Config-wide, so carried once here (not in every WorkspaceSpec) and handed to
    # each workspace's request by the parent workflow.
    policies: list[PolicyRule] = Field(default_factory=list)
    # With a git source, every WorkspaceSpec.dir (and tfvars) is relative to the repo.
    source: GitSource | None = None
    artifacts: ArtifactsConfig | None = None
    # Set: `workspaces` (and the request's selection) are stored there, too big to carry.
    pages: ConfigPages | None = None

    def workspace(self, name: str) -> WorkspaceSpec:
        for ws in self.workspaces:
            if ws.name == name:
                return ws
        raise KeyError(name)


class RunRequest(_Payload):
    """The one input of ParentWorkflow."""

    config: ConfigSnapshot
    mode: Mode
    workspaces: list[str]
    parallelism: int
    auto_approve: bool = False
    no_wait: bool = False
    trigger: str = "cli"
    ui_url: str | None = None
    namespace: str = "default"
    # A remediation run (remediate: auto) approves itself when its plan deletes and
    # replaces nothing and no policy denies it; otherwise it waits at the gate.
    auto_approve_safe: bool = False
    # Record into the drift ledger's shards. Absent (False) in runs that tfo 0.2
    # started, which keep recording into its single ledger when they end.
    ledger_shards: bool = False
    # Hand the run to its ledger shards in batches (one record_runs activity for the
    # records of many shards). False in runs started by 0.5 code before it: a
    # record_run activity per shard and part.
    record_batches: bool = False
    # Runs of more workspaces than this go in segments (workflows.segments). 0, in runs
    # that tfo 0.3 started: never.
    segment_workspaces: int = 0
    # Workspaces in local dirs lock by file and run their phases inline (dag_run).
    # False, in runs that tfo 0.4 started: each phase is a TerraformWorkflow child.
    file_locks: bool = False


class ResolveRequest(_Payload):
    """Input of resolve_source: which ref to pin, and the run's state dir (for the cache)."""

    source: GitSource
    state_dir: str


class SensitiveRef(_Payload):
    """Where an activity can read a sensitive upstream output itself."""

    workspace: str
    dir: str
    binary: str
    output: str


class InputValue(_Payload):
    """One propagated input: a plain JSON value, or a reference to a sensitive one."""

    value: Any = None
    ref: SensitiveRef | None = None


class PlanRequest(_Payload):
    """Input of the plan activity: init, validate, plan and show, fused."""

    run_id: str
    state_dir: str
    workspace: WorkspaceSpec
    inputs: dict[str, InputValue] = Field(default_factory=dict)
    settings: RunSettings
    keep_plan: bool = False
    # What the plan is checked against: the config's policies and the run they decide for.
    policies: list[PolicyRule] = Field(default_factory=list)
    mode: Mode = "plan"
    trigger: str = "cli"
    # A git source at the run's commit: the worker plans in its own checkout of it.
    source: PinnedSource | None = None
    # Set: a kept plan is also stored there, for a worker without this one's disk.
    artifacts: ArtifactsConfig | None = None
    # Take the workspace's file lock first (runs on local dirs; activities/workspace_lock).
    file_lock: bool = False


class PlanResult(_Payload):
    summary: PlanSummary
    plan_file: str | None = None
    plan_sha256: str | None = None
    init_skipped: bool = False
    worker: str = ""
    # The commit planned at (git source only), and where the saved plan is stored.
    commit: str = ""
    artifact: ArtifactRef | None = None
    # The planning worker's own task queue: its apply goes there first (.terraform is warm).
    worker_queue: str = ""


class ApplyRequest(_Payload):
    """Input of the apply activity: apply exactly one saved plan, then read outputs."""

    run_id: str
    state_dir: str
    workspace: WorkspaceSpec
    plan_file: str
    plan_sha256: str
    settings: RunSettings
    source: PinnedSource | None = None
    artifact: ArtifactRef | None = None
    artifacts: ArtifactsConfig | None = None
    file_lock: bool = False


class ApplyResult(_Payload):
    outputs: dict[str, OutputValue] = Field(default_factory=dict)
    resumed: bool = False
    worker: str = ""


class Phase(StrEnum):
    PLAN = "plan"
    APPLY = "apply"


class WorkspaceRequest(_Payload):
    """The one input of TerraformWorkflow."""

    run_id: str
    state_dir: str
    workspace: WorkspaceSpec
    phase: Phase
    inputs: dict[str, InputValue] = Field(default_factory=dict)
    settings: RunSettings
    keep_plan: bool = False
    approved: PlanResult | None = None
    max_destructive: int | None = None
    policies: list[PolicyRule] = Field(default_factory=list)
    mode: Mode = "plan"
    trigger: str = "cli"
    source: PinnedSource | None = None
    artifacts: ArtifactsConfig | None = None
    file_lock: bool = False


class WorkspaceOutcome(_Payload):
    """The one output of TerraformWorkflow."""

    plan: PlanResult | None = None
    applied: bool = False
    replanned: bool = False
    outputs: dict[str, OutputValue] = Field(default_factory=dict)
    resumed: bool = False
    worker: str = ""
