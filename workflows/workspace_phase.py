"""A workspace's phase of a run (workflow code): plan, or apply what was approved.

Run inline by DagRun for workspaces in local dirs, whose plan and apply activities
take the workspace's file lock (activities/workspace_lock); run as a
TerraformWorkflow child, whose workflow ID is the lock, for workspaces checked out
from git by workers that share no disk.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from tfo.config.errors import ErrorType
    from tfo.config.model import Operation
    from tfo.config.payloads import (
        ApplyRequest,
        ApplyResult,
        Phase,
        PlanRequest,
        PlanResult,
        PlanSummary,
        WorkspaceOutcome,
        WorkspaceRequest,
    )
    from tfo.config.policy_models import denials
    from tfo.workflows import retry
    from tfo.workflows.inputs import WorkspaceFailed, phase_failure

# A try at a workspace's phase: its outcome, or (None, holder) if another run holds
# the workspace's lock (holder None: not known yet).
PhaseTry = tuple[WorkspaceOutcome | None, str | None]


async def run_inline(req: WorkspaceRequest, *, id_prefix: str, on_start: Callable[[], None]) -> PhaseTry:
    """The phase's activities, run from the calling workflow; they take the file lock."""
    on_start()
    try:
        return await WorkspacePhase(req, id_prefix=id_prefix).run(), None
    except ActivityError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == ErrorType.LOCK_HELD:
            return None, str(cause.details[0]) if cause.details else "unknown"
        raise phase_failure(exc) from None
    except ApplicationError as exc:  # the phase's own verdict (a re-plan beyond approval)
        raise WorkspaceFailed(exc.message, exc.type) from None


class WorkspacePhase:
    """One workspace's phase. `id_prefix` names its activities (inline runs: the
    workspace's name, so that logs say which workspace failed); None keeps the
    SDK's own IDs, as recorded in TerraformWorkflow histories."""

    def __init__(self, req: WorkspaceRequest, *, id_prefix: str | None = None) -> None:
        self.req = req
        self._prefix = id_prefix
        self._count = 0

    def _activity_id(self) -> str | None:
        if self._prefix is None:
            return None
        self._count += 1
        return f"{self._prefix}{self._count}"

    async def run(self) -> WorkspaceOutcome:
        req = self.req
        if req.phase == Phase.PLAN:
            plan = await self._plan(req, keep=req.keep_plan)
            return WorkspaceOutcome(plan=plan, outputs=plan.summary.outputs, worker=plan.worker)
        replanned = req.approved is None
        if req.approved is not None:
            plan = req.approved
        else:
            plan = await self._plan(req, keep=True)
            _within_approval(req, plan, req.max_destructive, after="upstream changes")
        # A plan that policy denies is never applied: the parent fails the workspace.
        if Operation.APPLY not in req.workspace.operations or not plan.summary.has_changes or _denied(plan):
            return WorkspaceOutcome(plan=plan, outputs=plan.summary.outputs, replanned=replanned, worker=plan.worker)
        recoveries = 0
        while True:
            try:
                applied = await self._apply(req, plan)
                break
            except ActivityError as exc:
                kind = _error_type(exc)
                if kind not in ErrorType.REPLAN or recoveries >= retry.APPLY_RECOVERIES:
                    raise
                recoveries += 1
            # The saved plan can no longer be applied as it is: another run applied in
            # between (the lock is not held across phases), or the apply was interrupted
            # or failed transiently. Plan again, within what was approved, and apply that.
            if kind == ErrorType.APPLY_TRANSIENT:
                await workflow.sleep(retry.APPLY_RECOVERY_BACKOFF * recoveries)
            approved = plan.summary
            plan = await self._plan(req, keep=True)
            replanned = True
            allowed = approved.changes.destructive()
            if kind != ErrorType.STALE_PLAN:
                allowed += _finishing_creates(approved, plan.summary)
            _within_approval(req, plan, allowed, after=_AFTER[kind])
            if not plan.summary.has_changes or _denied(plan):
                return WorkspaceOutcome(plan=plan, outputs=plan.summary.outputs, replanned=True, worker=plan.worker)
        return WorkspaceOutcome(
            plan=plan,
            applied=True,
            replanned=replanned,
            outputs=applied.outputs,
            resumed=applied.resumed,
            worker=applied.worker,
        )

    async def _apply(self, req: WorkspaceRequest, plan: PlanResult) -> ApplyResult:
        assert plan.plan_file is not None and plan.plan_sha256 is not None
        request = ApplyRequest(
            run_id=req.run_id,
            state_dir=req.state_dir,
            workspace=req.workspace,
            plan_file=plan.plan_file,
            plan_sha256=plan.plan_sha256,
            settings=req.settings,
            source=req.source,
            artifact=plan.artifact,
            artifacts=req.artifacts,
            file_lock=req.file_lock,
        )
        if plan.worker_queue:
            # The worker that planned has the checkout, .terraform and the plan file: it
            # applies when it is still there; otherwise any worker of the workspace's
            # queue fetches the plan from the artifact store.
            try:
                return await self._apply_on(request, plan.worker_queue, wait=retry.PLANNER_WAIT)
            except ActivityError as exc:
                if not _never_picked_up(exc):
                    raise
        return await self._apply_on(request, req.workspace.task_queue)

    async def _apply_on(self, request: ApplyRequest, queue: str, *, wait: timedelta | None = None) -> ApplyResult:
        applied: ApplyResult = await workflow.execute_activity(
            "apply_workspace",
            request,
            result_type=ApplyResult,
            task_queue=queue,
            activity_id=self._activity_id(),
            schedule_to_start_timeout=wait,
            start_to_close_timeout=request.settings.timeout,
            heartbeat_timeout=request.settings.heartbeat_timeout,
            retry_policy=retry.TERRAFORM,
            # A cancelled run ends only after terraform has stopped and released its lock.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        return applied

    async def _plan(self, req: WorkspaceRequest, *, keep: bool) -> PlanResult:
        result: PlanResult = await workflow.execute_activity(
            "plan_workspace",
            PlanRequest(
                run_id=req.run_id,
                state_dir=req.state_dir,
                workspace=req.workspace,
                inputs=req.inputs,
                settings=req.settings,
                keep_plan=keep,
                policies=req.policies,
                mode=req.mode,
                trigger=req.trigger,
                source=req.source,
                artifacts=req.artifacts,
                file_lock=req.file_lock,
            ),
            result_type=PlanResult,
            task_queue=req.workspace.task_queue,
            activity_id=self._activity_id(),
            start_to_close_timeout=req.settings.timeout,
            heartbeat_timeout=req.settings.heartbeat_timeout,
            retry_policy=retry.TERRAFORM,
            # A cancelled run ends only after terraform has stopped and released its lock.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        return result


def _never_picked_up(exc: ActivityError) -> bool:
    cause = exc.cause
    return isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START


def _denied(plan: PlanResult) -> bool:
    return bool(denials(plan.summary.policy))


def _within_approval(req: WorkspaceRequest, plan: PlanResult, max_destructive: int | None, *, after: str) -> None:
    """Stop for review if a re-plan deletes or replaces more than was approved."""
    destructive = plan.summary.changes.destructive()
    if max_destructive is not None and destructive > max_destructive:
        raise ApplicationError(
            f"after {after} the plan wants to delete or "
            f"replace {destructive} resource(s), more than was approved; run tfo apply "
            "again to review",
            type=ErrorType.NEEDS_REVIEW,
            non_retryable=True,
        )


def _finishing_creates(approved: PlanSummary, replan: PlanSummary) -> int:
    """Replacements that only finish a create this workspace's own apply began.

    A create (or its provisioner) that failed or was interrupted leaves a tainted
    object, which the re-plan replaces: that deletes nothing that existed before the
    approved plan, so it is not counted against what was approved.
    """
    creating = {r.address for r in approved.resources if r.action == "create"}
    return sum(
        1 for r in replan.resources if r.action == "replace" and r.address in creating and r.address in replan.tainted
    )


_AFTER = {
    ErrorType.STALE_PLAN: "another run's apply",
    ErrorType.APPLY_INTERRUPTED: "an interrupted apply",
    ErrorType.APPLY_TRANSIENT: "a transient apply failure",
}


def _error_type(exc: ActivityError) -> str | None:
    cause = exc.cause
    return cause.type if isinstance(cause, ApplicationError) else None
