"""ParentWorkflow: a run of a DAG of workspaces, in plan or apply mode.

- A workspace starts as soon as all of its dependencies succeeded, at most
  `parallelism` at a time; a failed one's dependents are skipped (see dag_run).
- Apply runs plan everything first, stop at one approval gate, then apply in DAG
  order. A workspace whose inputs changed because an upstream was applied is
  re-planned; if that re-plan destroys more than was approved it stops for review.
- A run too big for one workflow history runs in segments (see segments), behind
  the same single gate.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from tfo.config.payloads import (
        TERMINAL,
        ApprovalDecision,
        Phase,
        ReportPage,
        RunReport,
        RunRequest,
        RunStatus,
        WorkspaceStatus,
    )
    from tfo.config.segment_models import SegmentResult
    from tfo.workflows import config_pages, run_end, source_pin
    from tfo.workflows.dag_run import DagRun
    from tfo.workflows.report_log import ReportLog
    from tfo.workflows.run_report import (
        bound_report,
        finalize,
        format_timeout,
        mark_cancelled,
        new_report,
        safe_to_approve,
    )
    from tfo.workflows.segments import SegmentedRun, needs_segments
    from tfo.workflows.spec_store import SpecStore


AUTO_NOTE = "approved automatically: remediation, policy passed, nothing deleted or replaced"


@workflow.defn(name="ParentWorkflow")
class ParentWorkflow:
    def __init__(self) -> None:
        self._report: RunReport | None = None
        self._log = ReportLog()
        self._decision: ApprovalDecision | None = None
        self._awaiting = False
        self._segments: SegmentedRun | None = None
        self._early: list[SegmentResult] = []

    @workflow.query(name="status_page")
    def status_page(self, since: int) -> ReportPage | None:
        """The workspaces that changed after `since`, in bounded pages (see report_log).
        A segmented run's header names its segments, whose workspaces the client reads."""
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

    @workflow.signal(name="segment_result")
    def segment_result(self, result: SegmentResult) -> None:
        if self._segments is None:
            self._early.append(result)
        else:
            self._segments.receive(result)

    @workflow.run
    async def run(self, req: RunRequest) -> RunReport:
        if req.trigger == "schedule" and req.mode != "plan":
            raise ApplicationError("a scheduled run can only plan", type="ScheduleMustPlan", non_retryable=True)
        store = SpecStore.of(req.config.workspaces)
        if req.config.pages is not None:
            try:
                req, store = await config_pages.load(req)
            except ActivityError as exc:  # the store is gone, or the blob was changed
                self._report = new_report(req, workflow.info().workflow_id, workflow.now().isoformat(), [])
                self._report.status = RunStatus.FAILED
                self._report.error = f"the run's config could not be read: {exc.cause or exc}"
                self._report.finished_at = workflow.now().isoformat()
                return self._report
        if needs_segments(req, store):
            return await self._run_segments(req, store)
        if req.config.pages is not None:
            req = config_pages.with_specs(req, store)
        run = DagRun(req, run_id=workflow.info().workflow_id, log=self._log)
        self._report = run.report
        try:
            if req.config.source is not None:
                run.source = await source_pin.resolve(
                    req.config.source, state_dir=req.config.state_dir, task_queue=req.config.task_queue
                )
                run.report.commit = run.source.commit
            await run.phase(Phase.PLAN)
            applying = req.mode == "apply" and run.anything_to_apply()
            if applying and (req.auto_approve or self._approves_itself(run) or await self._gate(req)):
                await self._follow_ref(run)
                await run.phase(Phase.APPLY)
        except asyncio.CancelledError:
            mark_cancelled(run.report)
            self._log.touch(*run.report.workspaces)
        except ActivityError as exc:
            # Only resolving the git source runs an activity here: nothing can go on.
            for name, ws in run.report.workspaces.items():
                if ws.status not in TERMINAL:
                    run.set(name, WorkspaceStatus.FAILED, error=f"git source: {exc.cause or exc}")
        if req.mode == "apply":
            planners = {p.worker_queue for p in run.plans.values() if p.worker_queue}
            await run_end.cleanup(req, run.queues_used, planners, run_id=run.run_id)
        report = finalize(run.report, workflow.now().isoformat())
        self._log.touch(*report.workspaces)
        await run_end.record_drift(req, run.specs, report)
        return bound_report(report)

    async def _run_segments(self, req: RunRequest, store: SpecStore) -> RunReport:
        segments = SegmentedRun(req, store, run_id=workflow.info().workflow_id)
        self._segments, self._report = segments, segments.report
        for early in self._early:
            segments.receive(early)
        try:
            await segments.plan()
            if req.mode == "apply" and segments.anything_to_apply():
                approved = req.auto_approve or self._segments_approve_themselves(segments) or await self._gate(req)
                if approved:
                    await segments.follow_ref()
                await segments.finish(approved=approved, status=self._report.status, note=self._report.approval_note)
        except asyncio.CancelledError:
            await segments.cancel()
        except ActivityError as exc:
            segments.fail(f"git source: {exc.cause or exc}")
        return await segments.close()

    # -- approval -------------------------------------------------------------

    async def _follow_ref(self, run: DagRun) -> None:
        """After approval, a ref that moved since the plans were made moves the run: each
        workspace is planned again at the new commit, within what was approved, before it
        applies (as for a stale plan). A commit never applies a plan made at another."""
        if run.source is not None:
            run.source = await source_pin.latest(run.req.config, run.source)
            run.report.commit = run.source.commit

    def _approves_itself(self, run: DagRun) -> bool:
        if not (run.req.auto_approve_safe and safe_to_approve(run.report, run.plans, run.deferred)):
            return False
        run.report.approval_note = AUTO_NOTE
        return True

    def _segments_approve_themselves(self, segments: SegmentedRun) -> bool:
        if not (segments.req.auto_approve_safe and segments.safe_to_approve()):
            return False
        segments.report.approval_note = AUTO_NOTE
        return True

    async def _gate(self, req: RunRequest) -> bool:
        assert self._report is not None
        self._report.status = RunStatus.AWAITING_APPROVAL
        self._awaiting = True
        timeout = req.config.settings.approval_timeout
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
