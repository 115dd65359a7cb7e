"""Pure rules of drift remediation (`remediate: propose|auto`), folded in with each run.

- A scheduled check that finds a workspace `drifted` (never `pending`) proposes a fix:
  the ledger starts an apply run of that workspace which stops at the approval gate
  (or, with auto, approves itself when that is safe). Its alert replaces the drift
  alert and names the run.
- At most one open proposal per workspace: the same drift seen again proposes
  nothing; a different drift supersedes the open run (it is cancelled and a new one
  proposed); a resolved drift cancels it.
- The proposal's own run, once recorded, closes it: remediation_applied, or
  remediation_failed (failed, rejected, expired at the gate).
"""

from __future__ import annotations

from collections.abc import Callable

from tfo.config.drift_config import AlertEvent
from tfo.config.drift_models import DriftStatus, LedgerState, RecordRun, RemediationAction, WorkspaceDrift
from tfo.config.payloads import RunStatus, WorkspaceStatus

REMEDIATION_TRIGGER = "remediation"
_RESOLVED = (DriftStatus.CLEAN, DriftStatus.PENDING)


def carry_proposal(previous: WorkspaceDrift | None, result: WorkspaceDrift) -> None:
    if previous is not None:
        result.proposal, result.proposal_fingerprint = previous.proposal, previous.proposal_fingerprint


def closed_proposals(state: LedgerState, rec: RecordRun) -> list[tuple[str, AlertEvent]]:
    """The proposals this remediation run answers, each with its closing event.

    Looked up over the run's workspaces, not its drift results: a failed apply is no
    drift check, but it does close its proposal."""
    report = rec.report
    if report.trigger != REMEDIATION_TRIGGER:
        return []
    closed = []
    for name, ws in sorted(report.workspaces.items()):
        known = state.workspaces.get(name)
        if known is None or known.proposal != report.run_id:
            continue
        known.proposal, known.proposal_fingerprint = None, ""
        applied = ws.outcome == "applied" and ws.status == WorkspaceStatus.SUCCEEDED
        closed.append((name, AlertEvent.REMEDIATION_APPLIED if applied else AlertEvent.REMEDIATION_FAILED))
    return closed


def closing_note(rec: RecordRun, name: str) -> str:
    report = rec.report
    ws = report.workspaces[name]
    if ws.outcome == "applied":
        return f"applied by run {report.run_id}"
    if ws.error:
        return f"run {report.run_id} failed: {ws.error}"
    if report.status in (RunStatus.REJECTED, RunStatus.CANCELLED):
        return f"run {report.run_id} was not applied: {report.approval_note or report.status.value}"
    return f"run {report.run_id} ended without applying {name} ({ws.status.value})"


def step(
    state: LedgerState,
    rec: RecordRun,
    name: str,
    result: WorkspaceDrift,
    new_run_id: Callable[[], str],
) -> bool:
    """Queue the remediation actions this check calls for; True when it proposes a fix
    (its alert then takes the place of the drift alert)."""
    mode = rec.remediate.get(name)
    open_run = result.proposal
    if rec.report.trigger == "schedule" and mode in ("propose", "auto") and result.status == DriftStatus.DRIFTED:
        fingerprint = result.fingerprint()
        if open_run is not None and result.proposal_fingerprint == fingerprint:
            return False  # this drift already has its proposal
        if open_run is not None:
            state.actions.append(RemediationAction(kind="cancel", workspace=name, run_id=open_run))
        run_id = new_run_id()
        state.actions.append(
            RemediationAction(
                kind="propose",
                workspace=name,
                run_id=rec.report.run_id,
                auto=mode == "auto",
                new_run_id=run_id,
                state_dir=rec.state_dir,
            )
        )
        result.proposal, result.proposal_fingerprint = run_id, fingerprint
        return True
    if open_run is not None and (result.status in _RESOLVED or mode is None):
        # Resolved (or remediation switched off): the open fix has nothing left to fix.
        if rec.report.run_id != open_run:
            state.actions.append(RemediationAction(kind="cancel", workspace=name, run_id=open_run))
        result.proposal, result.proposal_fingerprint = None, ""
    return False


def proposal_lines(action: RemediationAction) -> list[str]:
    approve = f"tfo approve {action.new_run_id}" + (f" --state-dir {action.state_dir}" if action.state_dir else "")
    lines = [f"remediation run: {action.new_run_id}"]
    if action.auto:
        lines.append("it applies itself if policy passes and it deletes or replaces nothing; otherwise it waits")
    lines += [f"review: tfo show {action.new_run_id}", f"approve: {approve}"]
    return lines
