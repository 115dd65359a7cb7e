"""What tfo's MCP tools return: structured results (pydantic models, which the MCP
SDK publishes as each tool's output schema) and the readable text sent beside them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tfo.config.payloads import Mode, RunReport, RunStatus
from tfo.daemon.plan_text import plan_text

_DONE = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.REJECTED}


# -- results ------------------------------------------------------------------


class InputView(BaseModel):
    sourceWorkspace: str
    sourceOutput: str
    targetVar: str


class WorkspaceView(BaseModel):
    name: str
    dir: str = Field(description="As written in the config, relative to its workspace_root.")
    dependsOn: list[str]
    inputs: list[InputView]
    operations: list[str]
    taskQueue: str
    depth: int = Field(description="0 for a workspace with no dependencies.")


class ScheduleView(BaseModel):
    name: str
    cron: str | None = None
    every: str | None = None
    workspaces: list[str] | None = Field(default=None, description="None means all workspaces.")
    paused: bool = False


class WorkflowList(BaseModel):
    config: str = Field(description="The config's name.")
    config_path: str
    workspaces: list[WorkspaceView] = Field(description="In dependency order.")
    schedules: list[ScheduleView]


class StartedRun(BaseModel):
    workflow_id: str
    mode: Mode
    status: Literal["started"] = "started"
    config: str
    workspaces: list[str] = Field(description="The selected workspaces plus everything they depend on.")
    next_step: str


class ChangesView(BaseModel):
    create: int = 0
    update: int = 0
    delete: int = 0
    replace: int = 0


class AttributeView(BaseModel):
    path: str = Field(description="Dotted, with list indexes: ingress.0.cidr_blocks.1, tags.owner.")
    before: Any = Field(default=None, description='"(sensitive)" and "(known after apply)" stand in for values.')
    after: Any = None


class ResourceView(BaseModel):
    address: str
    action: str
    attributes: list[AttributeView] = Field(default_factory=list, description="At most 50, values cut to 200 chars.")
    replace_paths: list[str] = Field(default_factory=list, description="The attributes that force a replacement.")
    truncated: bool = Field(
        default=False,
        description="Attributes were left out; `tfo show RUN_ID` shows terraform's full plan until the run ends.",
    )


class CheckView(BaseModel):
    address: str
    status: str
    messages: list[str] = Field(default_factory=list)


class IgnoredView(BaseModel):
    address: str
    reason: str
    drift: bool = False


class PolicyView(BaseModel):
    rule: str
    message: str = ""
    address: str = Field(default="", description="The resource change the rule judged.")
    effect: Literal["deny", "warn"] = Field(description="deny: the workspace is not applied; warn: reported only.")
    error: str | None = Field(default=None, description="Set when the rule could not be evaluated (a violation).")


class WorkspaceRunView(BaseModel):
    status: str
    changes: ChangesView
    resources: list[ResourceView]
    outputs: dict[str, Any] = Field(description='Sensitive values show as "(sensitive)".')
    error: str | None = None
    detail: str | None = Field(default=None, description="Why a workspace waits or was skipped.")
    drift: list[ResourceView] = Field(default_factory=list, description="Changed outside terraform.")
    output_changes: list[str] = Field(default_factory=list)
    checks: list[CheckView] = Field(default_factory=list, description="Failing terraform check blocks.")
    ignored: list[IgnoredView] = Field(default_factory=list, description="Changes that drift.ignore rules silence.")
    diff_truncated: bool = False
    policy: list[PolicyView] = Field(default_factory=list, description="policies: verdicts, denials first.")


class RunView(BaseModel):
    """`tfo plan/apply/status --json`, plus whether the run is done and what comes next."""

    run_id: str
    mode: Mode
    trigger: str = Field(default="cli", description="cli, mcp, schedule or remediation.")
    commit: str | None = Field(default=None, description="The git source's commit the run works at.")
    status: str = Field(description="running, awaiting_approval, succeeded, failed, cancelled or rejected.")
    changes: bool
    workspaces: dict[str, WorkspaceRunView]
    config: str = ""
    done: bool
    next_step: str | None = None
    plan_text: str | None = Field(default=None, description="The readable diff, while the run waits for approval.")


class DriftWorkspaceView(BaseModel):
    status: str = Field(description="clean, drifted, pending (unapplied changes), errored or unknown.")
    cause: str | None = None
    causes: list[str] = Field(default_factory=list)
    reason: str | None = Field(default=None, description="Why an unknown workspace was not checked.")
    since: str | None = Field(default=None, description="When the current status began.")
    checks: list[CheckView] = Field(default_factory=list)
    ignored: list[IgnoredView] = Field(default_factory=list)
    diff_truncated: bool = False
    terraform_version: str | None = None
    checked_at: str
    age_seconds: int
    changes: ChangesView
    resources: list[ResourceView]
    drift: list[ResourceView]
    output_changes: list[str]
    at_risk: bool
    at_risk_from: list[str]
    error: str | None = None
    run_id: str
    commit: str | None = Field(default=None, description="The git commit of the last check (git source).")
    proposal: str | None = Field(default=None, description="The open remediation run, waiting for approval.")


class DriftView(BaseModel):
    """`tfo drift --json`."""

    config: str
    workspaces: dict[str, DriftWorkspaceView]
    alerts_pending: int
    alerts_sent: int
    lost_note: str | None = None


class RunSummary(BaseModel):
    run_id: str
    status: str
    started: str
    closed: str | None = None


class RunList(BaseModel):
    runs: list[RunSummary]


class CancelResult(BaseModel):
    workflow_id: str
    status: Literal["cancel_requested"] = "cancel_requested"


def run_view(report: RunReport) -> RunView:
    done = report.status in _DONE
    next_step = None
    if report.status == RunStatus.AWAITING_APPROVAL:
        next_step = (
            f"The run waits for a human: `tfo approve {report.run_id}` or `tfo reject {report.run_id}`. "
            "No tool can approve."
        )
    elif not done:
        next_step = "Poll again: the run is still going."
    fields = {**report.public_json(), "config": report.config, "done": done, "next_step": next_step}
    if report.status == RunStatus.AWAITING_APPROVAL:
        fields["plan_text"] = plan_text(report)
    return RunView.model_validate(fields)


# -- readable text ------------------------------------------------------------


def _changes(c: ChangesView) -> str:
    return f"+{c.create} ~{c.update} -{c.delete} ±{c.replace}"


def workflows_text(result: WorkflowList) -> str:
    lines = [f"{result.config} ({result.config_path}): {len(result.workspaces)} workspaces, in dependency order"]
    for ws in result.workspaces:
        deps = f" <- {', '.join(ws.dependsOn)}" if ws.dependsOn else ""
        lines.append(f"  {ws.name}{deps}")
        lines.extend(f"      input {m.targetVar} = {m.sourceWorkspace}.{m.sourceOutput}" for m in ws.inputs)
    for s in result.schedules:
        when = s.cron or f"every {s.every}"
        scope = ", ".join(s.workspaces) if s.workspaces else "all workspaces"
        lines.append(f"  schedule {s.name}: {when} ({scope}){' paused' if s.paused else ''}")
    return "\n".join(lines)


def started_text(result: StartedRun) -> str:
    return (
        f"Started {result.mode} run {result.workflow_id} of {result.config} "
        f"({', '.join(result.workspaces)}). {result.next_step}"
    )


def run_text(view: RunView) -> str:
    lines = [f"{view.mode} run {view.run_id}: {view.status}{' (done)' if view.done else ''}"]
    for name, ws in view.workspaces.items():
        line = f"  {name}: {ws.status} {_changes(ws.changes)}"
        if ws.error:
            line += f" - {ws.error}"
        lines.append(line)
        lines.extend(f"      {r.action:8} {r.address}" for r in ws.resources)
    if view.plan_text:
        lines.append(view.plan_text)
    if view.next_step:
        lines.append(view.next_step)
    return "\n".join(lines)


def drift_text(view: DriftView) -> str:
    if not view.workspaces:
        return f"{view.config}: no drift check has run yet"
    lines = [f"{view.config}: latest drift check of each workspace"]
    for name, ws in view.workspaces.items():
        line = f"  {name}: {ws.status} {ws.age_seconds}s ago {_changes(ws.changes)}"
        if ws.causes:
            line += f" ({', '.join(c.replace('_', ' ') for c in ws.causes)})"
        if ws.reason:
            line += f" - {ws.reason}"
        if ws.at_risk:
            line += f" at risk from {', '.join(ws.at_risk_from)}"
        if ws.error:
            line += f" - {ws.error}"
        lines.append(line)
    return "\n".join(lines)


def runs_text(result: RunList) -> str:
    if not result.runs:
        return "no runs yet"
    return "\n".join(f"{r.run_id}  {r.status}  {r.started}" for r in result.runs)
