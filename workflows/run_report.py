"""Keeping a run's report: recording outcomes and finishing the result (pure)."""

from __future__ import annotations

from datetime import timedelta

from tfo.config.payloads import TERMINAL, RunReport, RunStatus, WorkspaceOutcome, WorkspaceReport, WorkspaceStatus


def record_outcome(ws: WorkspaceReport, outcome: WorkspaceOutcome) -> None:
    """Copy a TerraformWorkflow outcome into the workspace's report."""
    if outcome.plan is not None:
        summary = outcome.plan.summary
        ws.changes = summary.changes
        ws.resources = summary.resources
        ws.output_changes = summary.output_changes
        ws.drift = summary.drift
        ws.terraform_version = summary.terraform_version or None
        ws.baseline = summary.baseline
        ws.checks = summary.checks
        ws.ignored = summary.ignored
        ws.diff_truncated = summary.diff_truncated
        ws.outcome = "changes" if summary.has_changes else "no_changes"
    if outcome.applied:
        ws.outcome = "applied"
    ws.replanned = ws.replanned or outcome.replanned
    ws.resumed = ws.resumed or outcome.resumed
    ws.worker = outcome.worker or ws.worker
    ws.outputs = {k: v.display() for k, v in outcome.outputs.items()}


def mark_cancelled(report: RunReport) -> None:
    for ws in report.workspaces.values():
        if ws.status not in TERMINAL:
            ws.status = WorkspaceStatus.CANCELLED
    report.status = RunStatus.CANCELLED


def finalize(report: RunReport, now: str) -> RunReport:
    statuses = [ws.status for ws in report.workspaces.values()]
    for ws in report.workspaces.values():
        if ws.status == WorkspaceStatus.PLANNED:
            # Planned but never applied: the run was rejected or stopped at the gate.
            ws.status = WorkspaceStatus.SUCCEEDED
    if report.status not in (RunStatus.CANCELLED, RunStatus.REJECTED):
        report.status = RunStatus.FAILED if WorkspaceStatus.FAILED in statuses else RunStatus.SUCCEEDED
    report.changes = any(ws.outcome in ("changes", "applied") for ws in report.workspaces.values())
    report.finished_at = now
    return report


def format_timeout(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    return f"{seconds // 60}m" if seconds >= 60 else f"{seconds}s"
