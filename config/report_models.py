"""A run's report: its status and each workspace's, as the run returns it and clients read it.

A run's result is bounded (workflows.run_report.bound_report); the full report of a
big run is assembled by clients from its segments (daemon.live_report).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Literal, TextIO

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

    def public_json(self) -> dict[str, Any]:
        """The stable `--json` shape of one workspace."""
        return {
            "status": self.status.value,
            "changes": self.changes.model_dump(),
            "resources": [r.public_json() for r in self.resources],
            "outputs": self.outputs,
            "error": self.error,
            "detail": self.detail,
            "drift": [r.public_json() for r in self.drift],
            "output_changes": self.output_changes,
            "checks": [c.model_dump() for c in self.checks],
            "ignored": [i.model_dump() for i in self.ignored],
            "diff_truncated": self.diff_truncated,
            "policy": [v.model_dump() for v in self.policy],
        }


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
        return {**self._public_head(), "workspaces": {n: ws.public_json() for n, ws in self.workspaces.items()}}

    def write_public_json(self, out: TextIO) -> None:
        """public_json() as one line of JSON, written a workspace at a time: the report of
        10,000 workspaces never becomes one dict (~40 MB) and one string."""
        head = json.dumps({**self._public_head(), "workspaces": {}})
        out.write(head[: -len("}}")])
        for i, (name, ws) in enumerate(self.workspaces.items()):
            out.write(f"{', ' if i else ''}{json.dumps(name)}: {json.dumps(ws.public_json())}")
        out.write("}}\n")

    def _public_head(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "trigger": self.trigger,
            "commit": self.commit,
            "status": self.status.value,
            **({"error": self.error} if self.error else {}),
            "changes": self.changes,
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
