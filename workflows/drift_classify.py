"""What one run says about one workspace's drift: a status, its causes and its baseline (pure).

- A failed check is `errored`; a workspace the check could not reach (its upstream
  failed) is `unknown`, never clean.
- Planned changes and resource drift count only when no `drift.ignore` rule (or
  terraform's relevance) silences them.
- Resource drift is `drifted` (out_of_band). Changes with a different baseline on
  tfo's side are `pending` (code, variables, inputs, versions). Changes with nothing
  changed on tfo's side are `drifted` too: a state edit, or on terraform 1.0 an
  out-of-band change it does not list.
"""

from __future__ import annotations

from tfo.config.drift_models import CAUSE_ORDER, DriftStatus, WorkspaceDrift
from tfo.config.payloads import Baseline, ChangeCounts, WorkspaceReport, WorkspaceStatus


def lists_resource_drift(terraform_version: str | None) -> bool:
    """Whether this terraform version reliably reports resource_drift in a saved plan."""
    version = terraform_version or ""
    return bool(version) and not version.startswith(("0.", "1.0."))


def classify(
    ws: WorkspaceReport, previous: WorkspaceDrift | None, *, mode: str, run_id: str, now: str
) -> WorkspaceDrift | None:
    """A workspace's drift result from a run, or None if the run did not check it."""
    base = {"checked_at": now, "run_id": run_id, "terraform_version": ws.terraform_version, "commit": ws.commit}
    if ws.status == WorkspaceStatus.FAILED:
        if mode != "plan":
            return None  # a failed apply is not a drift check
        return WorkspaceDrift(status=DriftStatus.ERRORED, error=ws.error, **base)
    if ws.status == WorkspaceStatus.SKIPPED:
        if mode != "plan":
            return None
        return WorkspaceDrift(status=DriftStatus.UNKNOWN, reason=ws.detail or "not checked in this run", **base)
    if ws.status != WorkspaceStatus.SUCCEEDED or ws.outcome is None:
        return None
    result = WorkspaceDrift(
        status=DriftStatus.CLEAN,
        checks=ws.checks,
        ignored=ws.ignored,
        policy=ws.policy,
        diff_truncated=ws.diff_truncated,
        baseline=previous.baseline if previous else None,
        **base,
    )
    if ws.outcome == "applied":
        # The plan's state digest predates the apply: the next clean check records it.
        result.baseline = ws.baseline.model_copy(update={"state": ""}) if ws.baseline else result.baseline
        return result
    ignored_planned = {i.address for i in ws.ignored if not i.drift}
    ignored_drift = {i.address for i in ws.ignored if i.drift}
    resources = [r for r in ws.resources if r.address not in ignored_planned]
    drift = [r for r in ws.drift if r.address not in ignored_drift]
    counts = ws.changes
    ignored_updates = sum(1 for r in ws.resources if r.address in ignored_planned and r.action == "update")
    if ignored_updates:
        counts = counts.model_copy(update={"update": counts.update - ignored_updates})
    if counts.total() == 0 and not ws.output_changes and not drift:
        result.baseline = ws.baseline or result.baseline
        return result
    result.changes, result.resources, result.drift = counts, resources, drift
    result.output_changes = ws.output_changes
    result.status, result.causes = _status_and_causes(ws, counts, bool(drift), result.baseline)
    result.cause = result.causes[0] if result.causes else "unknown"
    return result


def _status_and_causes(
    ws: WorkspaceReport, counts: ChangeCounts, has_drift: bool, baseline: Baseline | None
) -> tuple[DriftStatus, list[str]]:
    causes: set[str] = set()
    if has_drift:
        causes.add("out_of_band")
    ours = ws.baseline.changed_since(baseline) if ws.baseline and baseline else []
    causes.update(ours)
    planned = counts.total() > 0 or bool(ws.output_changes)
    if planned and counts.total() == 0:
        causes.add("outputs_only")
    if baseline is None or ws.baseline is None:
        # No baseline yet: only terraform's own word. Without listed drift, terraform
        # >= 1.1 says the changes come from the configuration.
        if has_drift:
            return DriftStatus.DRIFTED, _ordered(causes)
        if lists_resource_drift(ws.terraform_version):
            return DriftStatus.PENDING, _ordered(causes)
        return DriftStatus.DRIFTED, _ordered(causes)
    if planned and not ours and not has_drift:
        causes.add(_unlisted_cause(ws, counts, baseline))
    if has_drift or not ours:
        return DriftStatus.DRIFTED, _ordered(causes)
    return DriftStatus.PENDING, _ordered(causes)


def _unlisted_cause(ws: WorkspaceReport, counts: ChangeCounts, baseline: Baseline) -> str:
    """Changes that nothing on tfo's side explains, with no resource drift listed."""
    assert ws.baseline is not None
    if baseline.state and ws.baseline.state != baseline.state:
        return "state"  # resources appeared in or vanished from state
    if not baseline.state and counts.create and counts.total() == counts.create:
        return "state"  # no state digest since the last apply: only re-creations, so gone from state
    if lists_resource_drift(ws.terraform_version):
        return "state"  # terraform would have listed an out-of-band change
    return "out_of_band"  # terraform 1.0 refreshes drift silently into the plan


def _ordered(causes: set[str]) -> list[str]:
    return [c for c in CAUSE_ORDER if c in causes]
