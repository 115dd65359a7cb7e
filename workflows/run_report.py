"""Keeping a run's report: recording outcomes and finishing the result (pure)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from tfo.config.ledger_shards import ledger_shard
from tfo.config.payloads import (
    TERMINAL,
    OutputValue,
    PlanResult,
    ResourceChange,
    RunReport,
    RunRequest,
    RunStatus,
    WorkspaceOutcome,
    WorkspaceReport,
    WorkspaceStatus,
)
from tfo.config.plan_models import OUTPUT_SHOWN_BYTES, diff_bytes
from tfo.config.policy_models import PolicyVerdict, cut

# A run's record in the drift ledger: at most this many resources per workspace and
# list, and attribute diffs only until the record's diff budget is spent. The counts
# stay exact; `tfo show RUN` has the rest.
LEDGER_MAX_RESOURCES = 50
# Policy verdicts per workspace in a ledger record, with their texts cut shorter.
LEDGER_MAX_VERDICTS = 10
LEDGER_VERDICT_CHARS = 120
LEDGER_DIFF_BUDGET = 96 * 1024
# A run reaches the ledger in parts of at most this many bytes of workspaces, so no
# signal grows with the number of workspaces.
LEDGER_PART_BYTES = 160 * 1024
# The records of several shards travel in one activity up to this many bytes of JSON
# (workflows.run_end): one part near LEDGER_PART_BYTES travels alone.
RECORD_BATCH_BYTES = 192 * 1024
# A run's (or segment's) result, its report, is cut to at most this many bytes: first
# its attribute diffs, then its output values, then its resource lists (the counts stay).
# `tfo show RUN` has the diffs; `terraform output` has the values.
RESULT_BYTES = 192 * 1024

WAITING_FOR_UPSTREAM = "waiting for its upstream's apply: its inputs are not known until then"


def new_report(req: RunRequest, run_id: str, started_at: str, workspaces: list[str]) -> RunReport:
    """A run's report as it begins: every workspace pending."""
    return RunReport(
        run_id=run_id,
        config=req.config.name,
        mode=req.mode,
        trigger=req.trigger,
        started_at=started_at,
        workspaces={n: WorkspaceReport() for n in workspaces},
    )


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
        ws.policy = summary.policy
        ws.commit = outcome.plan.commit or ws.commit
        ws.outcome = "changes" if summary.has_changes else "no_changes"
    if outcome.applied:
        ws.outcome = "applied"
    ws.replanned = ws.replanned or outcome.replanned
    ws.resumed = ws.resumed or outcome.resumed
    ws.worker = outcome.worker or ws.worker
    ws.outputs = {k: _shown(v) for k, v in outcome.outputs.items()}


def _shown(output: OutputValue) -> Any:
    """An output as a run report shows it: a large value by its size only, so that the
    report (the status query's answer) does not grow with output sizes."""
    if output.by_reference:
        return output.display()
    size = len(json.dumps(output.value, separators=(",", ":")))
    return output.value if size <= OUTPUT_SHOWN_BYTES else OutputValue(size=size).display()


def safe_to_approve(report: RunReport, plans: dict[str, PlanResult], deferred: set[str]) -> bool:
    """Whether a remediation run (`remediate: auto`) may approve itself: every workspace
    planned without failure (a policy denial fails its workspace), none waits for an
    upstream's outputs, and no plan deletes or replaces anything."""
    if any(ws.status == WorkspaceStatus.FAILED for ws in report.workspaces.values()) or deferred:
        return False
    return not any(plan.summary.changes.destructive() for plan in plans.values())


def mark_cancelled(report: RunReport) -> None:
    for ws in report.workspaces.values():
        if ws.status not in TERMINAL:
            ws.status = WorkspaceStatus.CANCELLED
    report.status = RunStatus.CANCELLED


def finalize(report: RunReport, now: str) -> RunReport:
    statuses = [ws.status for ws in report.workspaces.values()]
    for ws in report.workspaces.values():
        if ws.status == WorkspaceStatus.PLANNED and report.mode == "plan":
            # Deferred: its inputs are an upstream's outputs that only an apply produces.
            ws.status = WorkspaceStatus.SKIPPED
            ws.detail = WAITING_FOR_UPSTREAM
        elif ws.status == WorkspaceStatus.PLANNED:
            # Planned but never applied: the run was rejected or stopped at the gate.
            ws.status = WorkspaceStatus.SUCCEEDED
    if report.status not in (RunStatus.CANCELLED, RunStatus.REJECTED):
        report.status = RunStatus.FAILED if WorkspaceStatus.FAILED in statuses else RunStatus.SUCCEEDED
    report.changes = any(ws.outcome in ("changes", "applied") for ws in report.workspaces.values()) or any(
        ws.detail == WAITING_FOR_UPSTREAM for ws in report.workspaces.values()
    )
    report.finished_at = now
    return report


def format_timeout(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    return f"{seconds // 60}m" if seconds >= 60 else f"{seconds}s"


def slim_for_ledger(report: RunReport) -> RunReport:
    """The run as the drift ledger records it: no output values, bounded diffs."""
    budget = LEDGER_DIFF_BUDGET
    workspaces: dict[str, WorkspaceReport] = {}
    for name, ws in sorted(report.workspaces.items()):
        lists = []
        for resources in (ws.drift, ws.resources):
            kept: list[ResourceChange] = []
            for r in resources[:LEDGER_MAX_RESOURCES]:
                size = diff_bytes(r.attributes)
                if size > budget:
                    r = r.model_copy(update={"attributes": [], "truncated": bool(r.attributes) or r.truncated})
                else:
                    budget -= size
                kept.append(r)
            lists.append(kept)
        listed_short = max(len(ws.resources), len(ws.drift)) > LEDGER_MAX_RESOURCES
        truncated = ws.diff_truncated or listed_short or any(r.truncated for r in lists[0] + lists[1])
        workspaces[name] = ws.model_copy(
            update={
                "outputs": {},
                "drift": lists[0],
                "resources": lists[1],
                "diff_truncated": truncated,
                "policy": _slim_verdicts(ws.policy),
            }
        )
    return report.model_copy(update={"workspaces": workspaces})


def _slim_verdicts(verdicts: list[PolicyVerdict]) -> list[PolicyVerdict]:
    short = LEDGER_VERDICT_CHARS
    return [
        v.model_copy(
            update={
                "message": cut(v.message, short),
                "address": cut(v.address, short),
                "error": cut(v.error, short) if v.error else None,
            }
        )
        for v in verdicts[:LEDGER_MAX_VERDICTS]
    ]


def ledger_parts(report: RunReport, shards: list[int] | None) -> list[tuple[int | None, list[RunReport]]]:
    """The slim run for each ledger shard of the config, in parts of at most
    LEDGER_PART_BYTES of workspaces each. Every shard gets at least one part, so each
    shard counts every run. shards None: one unsharded ledger (runs begun by tfo 0.2)."""
    slim = slim_for_ledger(report)
    keys: list[int | None] = [None] if shards is None else list(shards)
    by_shard: dict[int | None, dict[str, WorkspaceReport]] = {shard: {} for shard in keys}
    for name, ws in slim.workspaces.items():
        by_shard.setdefault(None if shards is None else ledger_shard(name), {})[name] = ws
    out: list[tuple[int | None, list[RunReport]]] = []
    for shard, workspaces in by_shard.items():
        parts: list[dict[str, WorkspaceReport]] = [{}]
        size = 0
        for name, ws in workspaces.items():
            n = len(name) + len(ws.model_dump_json())
            if parts[-1] and size + n > LEDGER_PART_BYTES:
                parts.append({})
                size = 0
            parts[-1][name] = ws
            size += n
        out.append((shard, [slim.model_copy(update={"workspaces": part}) for part in parts]))
    return out


def bound_report(report: RunReport, budget: int = RESULT_BYTES) -> RunReport:
    """The report, cut to `budget` bytes of JSON if it is bigger (see RESULT_BYTES)."""
    if len(report.model_dump_json()) <= budget:
        return report
    slim = slim_for_ledger(report)
    with_outputs = slim.model_copy(
        update={
            "workspaces": {
                name: ws.model_copy(update={"outputs": report.workspaces[name].outputs})
                for name, ws in slim.workspaces.items()
            }
        }
    )
    if len(with_outputs.model_dump_json()) <= budget:
        return with_outputs
    if len(slim.model_dump_json()) <= budget:
        return slim
    bare = {
        name: ws.model_copy(update={"resources": [], "drift": [], "diff_truncated": True})
        for name, ws in slim.workspaces.items()
    }
    return slim.model_copy(update={"workspaces": bare})
