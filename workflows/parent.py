"""ParentWorkflow: a run of a DAG of workspaces, in plan or apply mode.

- A workspace starts as soon as all of its dependencies succeeded (a dynamic ready
  set), at most `parallelism` at a time; a failed one's dependents are skipped.
- Apply runs plan everything first, stop at one approval gate, then apply in DAG
  order. A workspace whose inputs changed because an upstream was applied is
  re-planned; if that re-plan destroys more than was approved it stops for review.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from tfo.config.dag import Dag
    from tfo.config.errors import ErrorType
    from tfo.config.model import Operation
    from tfo.config.payloads import (
        TERMINAL,
        ApprovalDecision,
        InputValue,
        OutputValue,
        Phase,
        PlanResult,
        ReportPage,
        RunReport,
        RunRequest,
        RunStatus,
        WorkspaceOutcome,
        WorkspaceReport,
        WorkspaceRequest,
        WorkspaceSpec,
        WorkspaceStatus,
    )
    from tfo.config.policy_models import denial_text, denials
    from tfo.config.source_models import PinnedSource
    from tfo.workflows import retry, run_end, source_pin
    from tfo.workflows.inputs import CANCELLED, WorkspaceFailed, child_failure, resolve_inputs
    from tfo.workflows.report_log import ReportLog
    from tfo.workflows.run_report import finalize, format_timeout, mark_cancelled, record_outcome, safe_to_approve
    from tfo.workflows.terraform_workflow import TerraformWorkflow, lock_workflow_id
    from tfo.workflows.worker_wait import wait_for_worker


@workflow.defn(name="ParentWorkflow")
class ParentWorkflow:
    def __init__(self) -> None:
        self._report: RunReport | None = None
        self._log = ReportLog()
        self._decision: ApprovalDecision | None = None
        self._awaiting = False

    @workflow.query(name="status_page")
    def status_page(self, since: int) -> ReportPage | None:
        """The workspaces that changed after `since`, in bounded pages (see report_log)."""
        return None if self._report is None else self._log.page(self._report, since)

    @workflow.query(name="status")
    def status(self) -> RunReport | None:
        return self._report

    @workflow.update(name="decide")
    def decide(self, decision: ApprovalDecision) -> str:
        self._decision = decision
        return "approved" if decision.approved else "rejected"

    @decide.validator
    def _validate_decision(self, decision: ApprovalDecision) -> None:
        if not self._awaiting or self._decision is not None:
            raise ApplicationError("this run is not waiting for approval")

    @workflow.run
    async def run(self, req: RunRequest) -> RunReport:
        if req.trigger == "schedule" and req.mode != "plan":
            raise ApplicationError("a scheduled run can only plan", type="ScheduleMustPlan", non_retryable=True)
        self._req = req
        self._specs: dict[str, WorkspaceSpec] = {
            ws.name: ws for ws in req.config.workspaces if ws.name in req.workspaces
        }
        self._dag = Dag({n: [d for d in s.depends_on if d in self._specs] for n, s in self._specs.items()})
        self._outputs: dict[str, dict[str, OutputValue]] = {}
        self._plans: dict[str, PlanResult] = {}
        self._plan_inputs: dict[str, dict[str, InputValue]] = {}
        self._deferred: set[str] = set()
        self._applied: set[str] = set()
        self._queues_used: set[str] = set()
        self._slots = asyncio.Semaphore(max(1, req.parallelism))
        self._report = RunReport(
            run_id=workflow.info().workflow_id,
            config=req.config.name,
            mode=req.mode,
            trigger=req.trigger,
            started_at=workflow.now().isoformat(),
            workspaces={n: WorkspaceReport() for n in self._dag.names},
        )
        self._log.touch(*self._dag.names)
        self._source: PinnedSource | None = None
        self._done: dict[str, WorkspaceStatus] = {}
        try:
            if req.config.source is not None:
                self._source = await source_pin.resolve(
                    req.config.source, state_dir=req.config.state_dir, task_queue=req.config.task_queue
                )
                self._report.commit = self._source.commit
            await self._phase(Phase.PLAN)
            applying = req.mode == "apply" and self._anything_to_apply()
            if applying and (req.auto_approve or self._approves_itself() or await self._gate()):
                await self._follow_ref()
                await self._phase(Phase.APPLY)
        except asyncio.CancelledError:
            mark_cancelled(self._report)
            self._log.touch(*self._report.workspaces)
        except ActivityError as exc:
            # Only resolving the git source runs an activity here: nothing can go on.
            for name, ws in self._report.workspaces.items():
                if ws.status not in TERMINAL:
                    self._set(name, WorkspaceStatus.FAILED, error=f"git source: {exc.cause or exc}")
        if req.mode == "apply":
            await run_end.cleanup(req, self._queues_used, self._plans)
        report = finalize(self._report, workflow.now().isoformat())
        self._log.touch(*report.workspaces)
        await run_end.record_drift(req, self._specs, report)
        return report

    # -- phases -------------------------------------------------------------

    async def _phase(self, phase: Phase) -> None:
        self._done = {}
        tasks = [asyncio.create_task(self._drive(name, phase)) for name in self._dag.names]
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _drive(self, name: str, phase: Phase) -> None:
        ws = self._ws(name)
        if phase == Phase.APPLY and ws.status in TERMINAL - {WorkspaceStatus.SUCCEEDED}:
            self._done[name] = ws.status
            return
        deps = self._dag.dependencies(name)
        await workflow.wait_condition(lambda: all(d in self._done for d in deps))
        bad = [d for d in deps if self._done[d] != WorkspaceStatus.SUCCEEDED]
        if bad:
            self._set(name, WorkspaceStatus.SKIPPED, detail=f"upstream {bad[0]} did not succeed")
            return
        try:
            inputs = self._inputs(name, phase)
            if inputs is None:
                self._deferred.add(name)
                self._set(name, WorkspaceStatus.PLANNED, detail="planned after upstream apply")
                return
            if phase == Phase.APPLY and not self._needs_apply_phase(name, inputs):
                self._set(name, WorkspaceStatus.SUCCEEDED)
                return
            outcome = await self._run_child(name, phase, inputs)
        except WorkspaceFailed as exc:
            if exc.kind == CANCELLED:
                self._set(name, WorkspaceStatus.CANCELLED)
                return
            self._set(name, WorkspaceStatus.FAILED, error=str(exc), error_type=exc.kind)
            return
        except asyncio.CancelledError:
            self._set(name, WorkspaceStatus.CANCELLED)
            raise
        self._record(name, phase, inputs, outcome)

    def _inputs(self, name: str, phase: Phase) -> dict[str, InputValue] | None:
        """Resolve a workspace's inputs; None means "defer until upstream is applied"."""
        return resolve_inputs(
            self._specs[name],
            specs=self._specs,
            outputs=self._outputs,
            plans=self._plans,
            deferred=self._deferred,
            may_defer=self._req.mode == "apply" and phase == Phase.PLAN,
        )

    def _needs_apply_phase(self, name: str, inputs: dict[str, InputValue]) -> bool:
        if name in self._deferred or name not in self._plans:
            return True
        if inputs != self._plan_inputs.get(name):
            return True
        if any(v.ref is not None and v.ref.workspace in self._applied for v in inputs.values()):
            return True  # a sensitive upstream value may have changed; re-plan to be sure
        plan = self._plans[name]
        return plan.summary.has_changes and Operation.APPLY in self._specs[name].operations

    async def _run_child(self, name: str, phase: Phase, inputs: dict[str, InputValue]) -> WorkspaceOutcome:
        spec = self._specs[name]
        request = self._request(name, phase, inputs)
        await self._await_worker(name)
        delay = retry.LOCK_POLL_INITIAL
        while True:
            async with self._slots:
                try:
                    handle = await workflow.start_child_workflow(
                        TerraformWorkflow.run,
                        request,
                        id=lock_workflow_id(spec.lock_key),
                        task_queue=self._req.config.task_queue,
                        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                        parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
                        memo={"run_id": workflow.info().workflow_id},
                    )
                except WorkflowAlreadyStartedError:
                    handle = None
                if handle is not None:
                    self._set(name, WorkspaceStatus.RUNNING, operation=phase.value)
                    try:
                        result: WorkspaceOutcome = await handle
                        return result
                    except ChildWorkflowError as exc:
                        raise child_failure(exc) from None
            holder = await workflow.execute_local_activity(
                "describe_lock_holder",
                lock_workflow_id(spec.lock_key),
                result_type=str,
                start_to_close_timeout=retry.BOOKKEEPING_TIMEOUT,
                retry_policy=retry.BOOKKEEPING,
            )
            if self._req.no_wait:
                raise WorkspaceFailed(f"workspace is locked by run {holder}", ErrorType.LOCKED)
            self._set(name, WorkspaceStatus.WAITING, detail=f"waiting for lock held by run {holder}")
            await workflow.sleep(delay)
            delay = min(delay * 2, retry.LOCK_POLL_MAX)

    async def _await_worker(self, name: str) -> None:
        """A workspace on a queue other than the workflows' waits, visibly, for a worker on it."""
        queue = self._specs[name].task_queue
        if queue != self._req.config.task_queue:

            def waiting(detail: str) -> None:
                self._set(name, WorkspaceStatus.WAITING, detail=detail)

            if await wait_for_worker(queue, timeout=self._req.config.settings.worker_timeout, on_wait=waiting):
                self._set(name, WorkspaceStatus.PENDING)
        self._queues_used.add(queue)

    def _request(self, name: str, phase: Phase, inputs: dict[str, InputValue]) -> WorkspaceRequest:
        approved: PlanResult | None = None
        max_destructive: int | None = None
        if phase == Phase.APPLY:
            plan = self._plans.get(name)
            same_commit = self._source is None or plan is None or plan.commit == self._source.commit
            if (
                plan is not None
                and name not in self._deferred
                and inputs == self._plan_inputs.get(name)
                and same_commit
            ):
                approved = plan
            elif plan is not None and name not in self._deferred:
                max_destructive = plan.summary.changes.destructive()
            else:
                max_destructive = 0
        return WorkspaceRequest(
            run_id=workflow.info().workflow_id,
            state_dir=self._req.config.state_dir,
            workspace=self._specs[name],
            phase=phase,
            inputs=inputs,
            settings=self._req.config.settings,
            keep_plan=self._req.mode == "apply",
            approved=approved,
            max_destructive=max_destructive,
            policies=self._req.config.policies,
            mode=self._req.mode,
            trigger=self._req.trigger,
            source=self._source,
            artifacts=self._req.config.artifacts,
        )

    def _record(self, name: str, phase: Phase, inputs: dict[str, InputValue], outcome: WorkspaceOutcome) -> None:
        denied = denials(outcome.plan.summary.policy) if outcome.plan and not outcome.applied else []
        if denied and self._req.mode == "apply":
            # Not applied, and its dependents are skipped as for any failure.
            record_outcome(self._ws(name), outcome)
            self._set(name, WorkspaceStatus.FAILED, error=denial_text(denied), error_type=ErrorType.POLICY_DENIED)
            return
        self._outputs[name] = outcome.outputs
        if outcome.plan is not None and phase == Phase.PLAN:
            self._plans[name] = outcome.plan
            self._plan_inputs[name] = inputs
        if outcome.applied:
            self._applied.add(name)
        record_outcome(self._ws(name), outcome)
        planned = phase == Phase.PLAN and self._req.mode == "apply"
        self._set(name, WorkspaceStatus.PLANNED if planned else WorkspaceStatus.SUCCEEDED)

    # -- approval -------------------------------------------------------------

    def _anything_to_apply(self) -> bool:
        for name, plan in self._plans.items():
            if plan.summary.has_changes and Operation.APPLY in self._specs[name].operations:
                return True
        return bool(self._deferred)

    async def _follow_ref(self) -> None:
        """After approval, a ref that moved since the plans were made moves the run: each
        workspace is planned again at the new commit, within what was approved, before it
        applies (as for a stale plan). A commit never applies a plan made at another."""
        if self._source is not None:
            assert self._report is not None
            self._source = await source_pin.latest(self._req.config, self._source)
            self._report.commit = self._source.commit

    def _approves_itself(self) -> bool:
        assert self._report is not None
        if not (self._req.auto_approve_safe and safe_to_approve(self._report, self._plans, self._deferred)):
            return False
        self._report.approval_note = "approved automatically: remediation, policy passed, nothing deleted or replaced"
        return True

    async def _gate(self) -> bool:
        assert self._report is not None
        self._report.status = RunStatus.AWAITING_APPROVAL
        self._awaiting = True
        timeout = self._req.config.settings.approval_timeout
        try:
            await workflow.wait_condition(lambda: self._decision is not None, timeout=timeout)
        except TimeoutError:
            self._report.approval_note = f"approval timed out after {format_timeout(timeout)}"
            self._report.status = RunStatus.REJECTED
            return False
        finally:
            self._awaiting = False
        assert self._decision is not None
        who = f" by {self._decision.by}" if self._decision.by else ""
        if not self._decision.approved:
            reason = f": {self._decision.reason}" if self._decision.reason else ""
            self._report.approval_note = f"rejected{who}{reason}"
            self._report.status = RunStatus.REJECTED
            return False
        self._report.approval_note = f"approved{who}"
        self._report.status = RunStatus.RUNNING
        return True

    # -- bookkeeping ------------------------------------------------------------

    def _ws(self, name: str) -> WorkspaceReport:
        assert self._report is not None
        return self._report.workspaces[name]

    def _set(
        self,
        name: str,
        status: WorkspaceStatus,
        *,
        operation: str | None = None,
        detail: str | None = None,
        error: str | None = None,
        error_type: str | None = None,
    ) -> None:
        ws = self._ws(name)
        self._log.touch(name)
        ws.status = status
        ws.operation = operation
        ws.detail = detail
        if error is not None:
            ws.error = error
            ws.error_type = error_type
        if status in TERMINAL or status == WorkspaceStatus.PLANNED:
            self._done[name] = WorkspaceStatus.SUCCEEDED if status == WorkspaceStatus.PLANNED else status
