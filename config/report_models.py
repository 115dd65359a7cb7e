"""A run's report: its status and each workspace's, as the run returns it and clients read it.

A run's result is bounded (workflows.run_report.bound_report); the full report of a
big run is assembled by clients from its segments (daemon.live_report).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tfo.config.plan_models import (
    Baseline,
    ChangeCounts,
    CheckResult,
    IgnoredChange,
    OmitDefaults,
    ResourceChange,
)
from tfo.config.policy_models import PolicyVerdict

Mode = Literal["plan", "apply"]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WorkspaceStatus(StrEnum):
    PENDING = "pending"
    WAITING = "waiting"
    RUNNING = "running"
    PLANNED = "planned"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


TERMINAL = {
    WorkspaceStatus.SUCCEEDED,
    WorkspaceStatus.FAILED,
    WorkspaceStatus.SKIPPED,
    WorkspaceStatus.CANCELLED,
}


class WorkspaceReport(OmitDefaults):
    """One workspace in a run's live status and in `--json`.

    In JSON (every Temporal payload) fields left at their defaults are omitted: a
    run of thousands of mostly unchanged workspaces then travels in a fraction of
    the bytes, and reading it back restores the defaults.
    """

    status: WorkspaceStatus = WorkspaceStatus.PENDING
    operation: str | None = None
    detail: str | None = None
    outcome: Literal["no_changes", "changes", "applied"] | None = None
    changes: ChangeCounts = Field(default_factory=ChangeCounts)
    resources: list[ResourceChange] = Field(default_factory=list)
    output_changes: list[str] = Field(default_factory=list)
    drift: list[ResourceChange] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None
    worker: str | None = None
    replanned: bool = False
    resumed: bool = False
    terraform_version: str | None = None
    baseline: Baseline | None = None
    checks: list[CheckResult] = Field(default_factory=list)
    ignored: list[IgnoredChange] = Field(default_factory=list)
    diff_truncated: bool = False
    policy: list[PolicyVerdict] = Field(default_factory=list)
    # The commit its latest plan was made at (git source only).
    commit: str | None = None


class RunStatus(StrEnum):
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class RunReport(_Payload):
    """A run's status: the live query answer and the final result."""

    run_id: str
    config: str = ""
    mode: Mode
    status: RunStatus = RunStatus.RUNNING
    changes: bool = False
    trigger: str = "cli"
    workspaces: dict[str, WorkspaceReport] = Field(default_factory=dict)
    started_at: str | None = None
    finished_at: str | None = None
    approval_note: str | None = None
    # The commit of a git source this run works at (it may move forward once, when the
    # ref moved while the run waited for approval: the plans are then made again).
    commit: str | None = None
    # A big run's segments (workflow IDs): their reports hold its workspaces. Those
    # closed: their results have their final reports.
    segments: list[str] = Field(default_factory=list)
    segments_closed: list[str] = Field(default_factory=list)
    # What stopped the run as a whole (a segmented run whose git source did not resolve).
    error: str | None = None

    def public_json(self) -> dict[str, Any]:
        """The stable `--json` shape."""
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "trigger": self.trigger,
            "commit": self.commit,
            "status": self.status.value,
            **({"error": self.error} if self.error else {}),
            "changes": self.changes,
            "workspaces": {
                name: {
                    "status": ws.status.value,
                    "changes": ws.changes.model_dump(),
                    "resources": [r.public_json() for r in ws.resources],
                    "outputs": ws.outputs,
                    "error": ws.error,
                    "detail": ws.detail,
                    "drift": [r.public_json() for r in ws.drift],
                    "output_changes": ws.output_changes,
                    "checks": [c.model_dump() for c in ws.checks],
                    "ignored": [i.model_dump() for i in ws.ignored],
                    "diff_truncated": ws.diff_truncated,
                    "policy": [v.model_dump() for v in ws.policy],
                }
                for name, ws in self.workspaces.items()
            },
        }


class ReportPage(_Payload):
    """One answer of the `status_page` query: the run's header and some workspaces."""

    report: RunReport
    seq: int  # ask for what changed after this next
    more: bool = False  # more changes are waiting: ask again at once


class ApprovalDecision(_Payload):
    approved: bool
    by: str = ""
    reason: str = ""
