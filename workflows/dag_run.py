"""DagRun: running a set of workspaces as a DAG, one phase at a time (workflow code).

Used by ParentWorkflow for a whole run, and by RunSegmentWorkflow for one segment of
a big run. A workspace starts as soon as all of its dependencies succeeded (a
dynamic ready set), at most `parallelism` at a time; a failed one's dependents are
skipped. Each workspace's phase is a TerraformWorkflow child, whose ID is the lock.

A segment also depends on workspaces outside it (`ExternalState`): their statuses,
the outputs it consumes, and which of those only an apply will produce.
"""

from __future__ import annotations

import asyncio
import functools

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tfo.config.dag import Dag
    from tfo.config.errors import ErrorType
    from tfo.config.model import Operation
    from tfo.config.payloads import (
        TERMINAL,
        InputValue,
        OutputValue,
        Phase,
        PlanResult,
        RunRequest,
        WorkspaceOutcome,
        WorkspaceReport,
        WorkspaceRequest,
        WorkspaceSpec,
        WorkspaceStatus,
    )
    from tfo.config.policy_models import denial_text, denials
    from tfo.config.segment_models import ExternalState
    from tfo.config.source_models import PinnedSource
    from tfo.workflows import activity_ids, retry
    from tfo.workflows.inputs import CANCELLED, WorkspaceFailed, resolve_inputs
    from tfo.workflows.report_log import ReportLog
    from tfo.workflows.run_report import new_report, record_outcome
    from tfo.workflows.terraform_workflow import lock_holder, run_as_child
    from tfo.workflows.worker_wait import wait_for_worker
    from tfo.workflows.workspace_phase import run_inline


class DagRun:
    def __init__(self, req: RunRequest, *, run_id: str, log: ReportLog, external: ExternalState | None = None) -> None:
        self.req = req
        self.run_id = run_id
        self._log = log
        self._all_specs = {ws.name: ws for ws in req.config.workspaces}
        self.specs: dict[str, WorkspaceSpec] = {n: s for n, s in self._all_specs.items() if n in req.workspaces}
        self.dag = Dag({n: [d for d in s.depends_on if d in self.specs] for n, s in self.specs.items()})
        self.outputs: dict[str, dict[str, OutputValue]] = {}
        self.plans: dict[str, PlanResult] = {}
        self._plan_inputs: dict[str, dict[str, InputValue]] = {}
        self.deferred: set[str] = set()
        self.applied: set[str] = set()
        self._ext_done: dict[str, WorkspaceStatus] = {}
        self._ext_pending: dict[str, list[str]] = {}
        self.queues_used: set[str] = set()
        self._slots = asyncio.Semaphore(max(1, req.parallelism))
        # Workspaces in local dirs lock by file and run inline (no child per workspace):
        # ~15 fewer events and a Temporal execution less per workspace and phase.
        # Git-sourced ones, on workers that share no disk, keep the child as the lock.
        # Runs that 0.4 began keep children. (A request field, not workflow.patched:
        # the SDK writes patch markers unencrypted.)
        self._file_lock = req.file_locks and req.config.source is None
        self._attempts = 0
        self.source: PinnedSource | None = None
        self.done: dict[str, WorkspaceStatus] = {}
        self.report = new_report(req, run_id, workflow.now().isoformat(), self.dag.names)
        log.touch(*self.dag.names)
        if external is not None:
            self.learn(external)

    def learn(self, external: ExternalState) -> None:
        """What is now known of the workspaces outside this run that its own depend on."""
        self._ext_done.update(external.done)
        self.outputs.update(external.outputs)
        self._ext_pending.update(external.pending)
        self.deferred |= set(external.deferred)
        self.applied |= set(external.applied)

    async def phase(self, phase: Phase) -> None:
        self.done = {}
        tasks = [asyncio.create_task(self._drive(name, phase)) for name in self.dag.names]
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _drive(self, name: str, phase: Phase) -> None:
        ws = self.ws(name)
        if phase == Phase.APPLY and ws.status in TERMINAL - {WorkspaceStatus.SUCCEEDED}:
            self.done[name] = ws.status
            return
        deps = self.dag.dependencies(name)
        await workflow.wait_condition(lambda: all(d in self.done for d in deps))
        bad = [d for d in deps if self.done[d] != WorkspaceStatus.SUCCEEDED]
        ok = WorkspaceStatus.SUCCEEDED
        bad += [d for d in self.specs[name].depends_on if self._ext_done.get(d, ok) != ok]
        if bad:
            self.set(name, WorkspaceStatus.SKIPPED, detail=f"upstream {bad[0]} did not succeed")
            return
        try:
            inputs = self._inputs(name, phase)
            if inputs is None:
                self.deferred.add(name)
                self.set(name, WorkspaceStatus.PLANNED, detail="planned after upstream apply")
                return
            if phase == Phase.APPLY and not self._needs_apply_phase(name, inputs):
                self.set(name, WorkspaceStatus.SUCCEEDED)
                return
            outcome = await self._run_phase(name, phase, inputs)
        except WorkspaceFailed as exc:
            if exc.kind == CANCELLED:
                self.set(name, WorkspaceStatus.CANCELLED)
                return
            self.set(name, WorkspaceStatus.FAILED, error=str(exc), error_type=exc.kind)
            return
        except asyncio.CancelledError:
            self.set(name, WorkspaceStatus.CANCELLED)
            raise
        self._record(name, phase, inputs, outcome)

    def _inputs(self, name: str, phase: Phase) -> dict[str, InputValue] | None:
        """Resolve a workspace's inputs; None means "defer until upstream is applied"."""
        return resolve_inputs(
            self.specs[name],
            specs=self._all_specs,
            outputs=self.outputs,
            plans=self.plans,
            deferred=self.deferred,
            may_defer=self.req.mode == "apply" and phase == Phase.PLAN,
            upstream_pending=self._ext_pending,
        )

    def _needs_apply_phase(self, name: str, inputs: dict[str, InputValue]) -> bool:
        if name in self.deferred or name not in self.plans:
            return True
        if inputs != self._plan_inputs.get(name):
            return True
        if any(v.ref is not None and v.ref.workspace in self.applied for v in inputs.values()):
            return True  # a sensitive upstream value may have changed; re-plan to be sure
        plan = self.plans[name]
        return plan.summary.has_changes and Operation.APPLY in self.specs[name].operations

    async def _run_phase(self, name: str, phase: Phase, inputs: dict[str, InputValue]) -> WorkspaceOutcome:
        """The workspace's phase, once it holds the workspace's lock (waiting, or failing
        under --no-wait, while another run holds it)."""
        request = self._request(name, phase, inputs)
        await self._await_worker(name)
        delay = retry.LOCK_POLL_INITIAL
        while True:
            running = functools.partial(self.set, name, WorkspaceStatus.RUNNING, operation=phase.value)
            async with self._slots:
                if self._file_lock:
                    self._attempts += 1
                    prefix = activity_ids.phase_prefix(name, self._attempts)
                    outcome, holder = await run_inline(request, id_prefix=prefix, on_start=running)
                else:
                    outcome, holder = await run_as_child(
                        request, run_id=self.run_id, task_queue=self.req.config.task_queue, on_start=running
                    )
            if outcome is not None:
                return outcome
            holder = holder or await lock_holder(self.specs[name].lock_key)
            if self.req.no_wait:
                raise WorkspaceFailed(f"workspace is locked by run {holder}", ErrorType.LOCKED)
            self.set(name, WorkspaceStatus.WAITING, detail=f"waiting for lock held by run {holder}")
            await workflow.sleep(delay)
            delay = min(delay * 2, retry.LOCK_POLL_MAX)

    async def _await_worker(self, name: str) -> None:
        """A workspace on a queue other than the workflows' waits, visibly, for a worker on it."""
        queue = self.specs[name].task_queue
        if queue != self.req.config.task_queue:

            def waiting(detail: str) -> None:
                self.set(name, WorkspaceStatus.WAITING, detail=detail)

            if await wait_for_worker(queue, timeout=self.req.config.settings.worker_timeout, on_wait=waiting):
                self.set(name, WorkspaceStatus.PENDING)
        self.queues_used.add(queue)

    def _request(self, name: str, phase: Phase, inputs: dict[str, InputValue]) -> WorkspaceRequest:
        approved: PlanResult | None = None
        max_destructive: int | None = None
        if phase == Phase.APPLY:
            plan = self.plans.get(name)
            same_commit = self.source is None or plan is None or plan.commit == self.source.commit
            if plan is not None and name not in self.deferred and inputs == self._plan_inputs.get(name) and same_commit:
                approved = plan
            elif plan is not None and name not in self.deferred:
                max_destructive = plan.summary.changes.destructive()
            else:
                max_destructive = 0
        config = self.req.config
        return WorkspaceRequest(
            run_id=self.run_id,
            state_dir=config.state_dir,
            workspace=self.specs[name],
            phase=phase,
            inputs=inputs,
            settings=config.settings,
            keep_plan=self.req.mode == "apply",
            approved=approved,
            max_destructive=max_destructive,
            policies=config.policies,
            mode=self.req.mode,
            trigger=self.req.trigger,
            source=self.source,
            artifacts=config.artifacts,
            file_lock=self._file_lock,
        )

    def _record(self, name: str, phase: Phase, inputs: dict[str, InputValue], outcome: WorkspaceOutcome) -> None:
        denied = denials(outcome.plan.summary.policy) if outcome.plan and not outcome.applied else []
        if denied and self.req.mode == "apply":
            # Not applied, and its dependents are skipped as for any failure.
            record_outcome(self.ws(name), outcome)
            self.set(name, WorkspaceStatus.FAILED, error=denial_text(denied), error_type=ErrorType.POLICY_DENIED)
            return
        self.outputs[name] = outcome.outputs
        if outcome.plan is not None and phase == Phase.PLAN:
            self.plans[name] = outcome.plan
            self._plan_inputs[name] = inputs
        if outcome.applied:
            self.applied.add(name)
        record_outcome(self.ws(name), outcome)
        planned = phase == Phase.PLAN and self.req.mode == "apply"
        self.set(name, WorkspaceStatus.PLANNED if planned else WorkspaceStatus.SUCCEEDED)

    def anything_to_apply(self) -> bool:
        for name, plan in self.plans.items():
            if plan.summary.has_changes and Operation.APPLY in self.specs[name].operations:
                return True
        return bool(self.deferred & set(self.specs))

    def ws(self, name: str) -> WorkspaceReport:
        return self.report.workspaces[name]

    def set(
        self,
        name: str,
        status: WorkspaceStatus,
        *,
        operation: str | None = None,
        detail: str | None = None,
        error: str | None = None,
        error_type: str | None = None,
    ) -> None:
        ws = self.ws(name)
        self._log.touch(name)
        ws.status = status
        ws.operation = operation
        ws.detail = detail
        if error is not None:
            ws.error = error
            ws.error_type = error_type
        if status in TERMINAL or status == WorkspaceStatus.PLANNED:
            self.done[name] = WorkspaceStatus.SUCCEEDED if status == WorkspaceStatus.PLANNED else status
