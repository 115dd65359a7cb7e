"""RunSegmentWorkflow: one segment of a big run (see segments).

It runs its workspaces as any run does (dag_run), with what the earlier segments
found as its ExternalState. In an apply run it reports after planning and waits for
the run's decision (the `go` signal) before applying. At its end it tells the run
what later segments need, records its workspaces in the drift ledger (uncounted:
the run counts once) and returns its report, cut to a bounded size.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from tfo.config.payloads import Phase, ReportPage, RunReport, WorkspaceStatus
    from tfo.config.segment_models import ExternalState, SegmentGo, SegmentRequest, SegmentResult
    from tfo.workflows import run_end
    from tfo.workflows.dag_run import DagRun
    from tfo.workflows.report_log import ReportLog
    from tfo.workflows.run_report import bound_report, finalize, mark_cancelled


@workflow.defn(name="RunSegmentWorkflow")
class RunSegmentWorkflow:
    def __init__(self) -> None:
        self._log = ReportLog()
        self._report: RunReport | None = None
        self._go: SegmentGo | None = None

    @workflow.query(name="status_page")
    def status_page(self, since: int) -> ReportPage | None:
        return None if self._report is None else self._log.page(self._report, since)

    @workflow.signal(name="go")
    def go(self, go: SegmentGo) -> None:
        self._go = go

    @workflow.run
    async def run(self, req: SegmentRequest) -> RunReport:
        run = DagRun(req.run, run_id=req.run_id, log=self._log, external=req.external)
        run.report.started_at = req.started_at
        run.source = req.source
        run.report.commit = req.source.commit if req.source else None
        self._report = run.report
        applying = req.run.mode == "apply"
        try:
            await run.phase(Phase.PLAN)
            if applying:
                await self._tell(req, run, Phase.PLAN)
                await workflow.wait_condition(lambda: self._go is not None)
                assert self._go is not None
                run.report.approval_note = self._go.note
                if self._go.approved:
                    run.learn(self._go.external)
                    run.source = self._go.source or run.source
                    run.report.commit = run.source.commit if run.source else None
                    await run.phase(Phase.APPLY)
                else:
                    run.report.status = self._go.status
        except asyncio.CancelledError:
            mark_cancelled(run.report)
            self._log.touch(*run.report.workspaces)
        report = finalize(run.report, workflow.now().isoformat())
        self._log.touch(*report.workspaces)
        await self._tell(req, run, Phase.APPLY if applying else Phase.PLAN)
        await run_end.record_drift(req.run, run.specs, report, counted=False, primary=False)
        return bound_report(report)

    async def _tell(self, req: SegmentRequest, run: DagRun, phase: Phase) -> None:
        """Hand the run what its later segments need of this one."""
        statuses = {}
        for name in req.exports:
            status = run.done.get(name) or run.report.workspaces[name].status
            statuses[name] = WorkspaceStatus.SUCCEEDED if status == WorkspaceStatus.PLANNED else status
        exports = ExternalState(
            done=statuses,
            outputs={
                name: {k: v for k, v in run.outputs[name].items() if k in outs}
                for name, outs in req.exports.items()
                if name in run.outputs
            },
            pending={
                name: [o for o in outs if o in run.plans[name].summary.output_changes]
                for name, outs in req.exports.items()
                if name in run.plans
            },
            deferred=[name for name in req.exports if name in run.deferred],
            applied=[name for name in req.exports if name in run.applied],
        ).slice(set(req.exports))
        own = set(run.specs)
        result = SegmentResult(
            index=req.index,
            phase=phase,
            exports=exports,
            to_apply=run.anything_to_apply(),
            destructive=sum(p.summary.changes.destructive() for p in run.plans.values()),
            failed=sum(1 for ws in run.report.workspaces.values() if ws.status == WorkspaceStatus.FAILED),
            deferred=len(run.deferred & own),
            changes=any(ws.outcome in ("changes", "applied") for ws in run.report.workspaces.values())
            or bool(run.deferred & own),
            queues=sorted(run.queues_used),
            planners=sorted({p.worker_queue for p in run.plans.values() if p.worker_queue}),
        )
        parent = workflow.info().parent
        assert parent is not None
        try:
            await workflow.get_external_workflow_handle(parent.workflow_id).signal("segment_result", result)
        except FailureError:  # the run already ended (cancelled, terminated)
            workflow.logger.warning("run %s did not take segment %s's result", req.run_id, req.index)
