"""A run too big for one workflow history, run in segments (used by ParentWorkflow).

The selected workspaces are split in DAG order (by depth) into segments of at most
`RunRequest.segment_workspaces` workspaces and SEGMENT_SPEC_BYTES of specs. Each segment is a
RunSegmentWorkflow child; a workspace's upstreams are in its own segment or in an
earlier one. Segments plan one after another, each told what the earlier ones found
(statuses, the outputs it consumes, which of those only an apply will produce). An
apply run then stops at its one gate, here; once approved, the segments apply one
after another, each told the outputs applied before it.

The ParentWorkflow's own history then grows with the number of segments, not of
workspaces, and its report is a header naming the segments: clients read the
workspaces from them (daemon.live_report).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Container

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import FailureError
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from tfo.config.dag import Dag
    from tfo.config.payloads import Phase, RunReport, RunRequest, RunStatus, WorkspaceStatus
    from tfo.config.segment_models import (
        SEGMENT_SPEC_BYTES,
        ExternalState,
        SegmentGo,
        SegmentRequest,
        SegmentResult,
    )
    from tfo.config.source_models import PinnedSource
    from tfo.workflows import run_end, source_pin
    from tfo.workflows.run_report import new_report
    from tfo.workflows.spec_store import Outline, SpecStore


def _upstreams(outline: Outline, members: Container[str]) -> set[str]:
    """The workspaces of the run whose outputs a workspace consumes."""
    return {source for source, _ in outline.sources if source in members}


def _depends(outline: Outline, members: Container[str]) -> set[str]:
    return _upstreams(outline, members) | {d for d in outline.depends_on if d in members}


def split(outlines: dict[str, Outline], order: list[str], *, most: int) -> list[list[str]]:
    """Segments in `order` (upstreams first), each of at most `most` workspaces and, with
    the specs of the upstreams it consumes from earlier segments, SEGMENT_SPEC_BYTES."""
    chunks: list[list[str]] = [[]]
    members: set[str] = set()
    carried: set[str] = set()
    size = 0
    for name in order:
        ups = _upstreams(outlines[name], outlines) - members - carried
        n = outlines[name].size + sum(outlines[u].size for u in ups)
        if chunks[-1] and (len(chunks[-1]) >= most or size + n > SEGMENT_SPEC_BYTES):
            chunks.append([])
            members, carried, size = set(), set(), 0
            ups = _upstreams(outlines[name], outlines)
            n = outlines[name].size + sum(outlines[u].size for u in ups)
        chunks[-1].append(name)
        members.add(name)
        carried |= ups
        size += n
    return chunks


def needs_segments(req: RunRequest, store: SpecStore) -> bool:
    selected = set(req.workspaces)
    if req.segment_workspaces <= 0:
        return False
    if len(selected) > req.segment_workspaces:
        return True
    return sum(o.size for name, o in store.outlines.items() if name in selected) > SEGMENT_SPEC_BYTES


def segment_id(run_id: str, index: int) -> str:
    return f"{run_id}-seg{index:03d}"


class SegmentedRun:
    def __init__(self, req: RunRequest, store: SpecStore, *, run_id: str) -> None:
        self.req = req
        self.run_id = run_id
        selected = set(req.workspaces)
        self._store: SpecStore | None = store
        self._outlines = {name: o for name, o in store.outlines.items() if name in selected}
        self._names = list(self._outlines)
        dag = Dag({n: [d for d in o.depends_on if d in self._outlines] for n, o in self._outlines.items()})
        self._chunks = split(self._outlines, dag.by_depth(), most=req.segment_workspaces)
        where = {name: i for i, chunk in enumerate(self._chunks) for name in chunk}
        self._deps: list[set[str]] = [set() for _ in self._chunks]
        self._exports: list[dict[str, list[str]]] = [{} for _ in self._chunks]
        for name, outline in self._outlines.items():
            i = where[name]
            for dep in _depends(outline, self._outlines):
                if where[dep] != i:
                    self._deps[i].add(dep)
                    self._exports[where[dep]].setdefault(dep, [])
            for source, output in outline.sources:
                if source in self._outlines and where[source] != i:
                    outs = self._exports[where[source]][source]
                    if output not in outs:
                        outs.append(output)
        self.report = new_report(req, run_id, workflow.now().isoformat(), [])
        self._known = ExternalState()
        self._results: dict[tuple[int, Phase], SegmentResult] = {}
        self._handles: dict[int, ChildWorkflowHandle[object, RunReport]] = {}
        self._source: PinnedSource | None = None
        self._lost: set[int] = set()

    def receive(self, result: SegmentResult) -> None:
        self._results[(result.index, result.phase)] = result

    async def plan(self) -> None:
        config = self.req.config
        if config.source is not None:
            self._source = await source_pin.resolve(
                config.source, state_dir=config.state_dir, task_queue=config.task_queue
            )
            self.report.commit = self._source.commit
        for i in range(len(self._chunks)):
            sid = segment_id(self.run_id, i)
            handle: ChildWorkflowHandle[object, RunReport] = await workflow.start_child_workflow(
                "RunSegmentWorkflow",
                # Converted here: a child's handle keeps its arguments for the whole run, and
                # 10,000 workspaces' specs are ~40 MB of objects but ~4 MB as JSON.
                RawValue(workflow.payload_converter().to_payload(self._request(i))),
                id=sid,
                task_queue=config.task_queue,
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
                result_type=RunReport,
                memo={"run_id": self.run_id},
            )
            self._handles[i] = handle
            self.report.segments.append(sid)
            handle.add_done_callback(self._closed(sid))
            await self._learn(i, Phase.PLAN)
        # Every segment has its specs now: the run keeps only their names (for the ledger).
        self._store, self._outlines = None, {}
        self.req.config.workspaces = []

    def _closed(self, sid: str) -> Callable[[object], None]:
        def note(_: object) -> None:
            self.report.segments_closed.append(sid)

        return note

    def _request(self, i: int) -> SegmentRequest:
        chunk = self._chunks[i]
        members = set(chunk)
        carried = sorted({u for n in chunk for u in _upstreams(self._outlines[n], self._outlines)} - members)
        assert self._store is not None  # requests are made while planning, before it is let go
        specs = self._store.specs([*chunk, *carried])
        config = self.req.config.model_copy(update={"workspaces": specs, "pages": None})
        return SegmentRequest(
            run=self.req.model_copy(update={"config": config, "workspaces": list(chunk)}),
            run_id=self.run_id,
            index=i,
            count=len(self._chunks),
            started_at=self.report.started_at or "",
            external=self._known.slice(self._deps[i]),
            exports=self._exports[i],
            source=self._source,
        )

    async def _learn(self, i: int, phase: Phase) -> None:
        """Wait for segment i's result of `phase`; a segment that ended without one fails
        its workspaces for the segments after it."""
        handle = self._handles[i]
        await workflow.wait_condition(lambda: (i, phase) in self._results or handle.done())
        result = self._results.get((i, phase))
        if result is None:
            self._lost.add(i)
            self._known.done.update({name: WorkspaceStatus.FAILED for name in self._exports[i]})
            return
        self._known.merge(result.exports)

    def _planned(self) -> list[SegmentResult]:
        return [r for (_, phase), r in sorted(self._results.items()) if phase == Phase.PLAN]

    def anything_to_apply(self) -> bool:
        return any(r.to_apply for r in self._planned())

    def safe_to_approve(self) -> bool:
        """As run_report.safe_to_approve, over every segment's plans."""
        planned = self._planned()
        if self._lost or len(planned) != len(self._chunks):
            return False
        return not any(r.failed or r.deferred or r.destructive for r in planned)

    async def follow_ref(self) -> None:
        if self._source is not None:
            self._source = await source_pin.latest(self.req.config, self._source)
            self.report.commit = self._source.commit

    async def finish(self, *, approved: bool, status: RunStatus, note: str | None) -> None:
        """Tell each planned segment of an apply run the decision; if approved, in DAG order."""
        for i, handle in sorted(self._handles.items()):
            if handle.done():
                continue
            external = self._known.slice(self._deps[i]) if approved else ExternalState()
            go = SegmentGo(approved=approved, status=status, note=note, external=external, source=self._source)
            try:
                await workflow.get_external_workflow_handle(segment_id(self.run_id, i)).signal("go", go)
            except FailureError:  # it ended in the meantime (terminated by hand)
                self._lost.add(i)
                continue
            if approved:
                await self._learn(i, Phase.APPLY)

    async def cancel(self) -> None:
        self.report.status = RunStatus.CANCELLED
        for handle in self._handles.values():
            if not handle.done():
                handle.cancel()

    def fail(self, error: str) -> None:
        """Nothing could start (the git source did not resolve)."""
        self.report.status = RunStatus.FAILED
        self.report.error = error

    async def close(self) -> RunReport:
        """Wait for every segment to end, clean up, have the run counted; the header."""
        await asyncio.gather(*self._handles.values(), return_exceptions=True)
        last = Phase.APPLY if self.req.mode == "apply" else Phase.PLAN
        final = [r for (_, phase), r in self._results.items() if phase == last]
        report = self.report
        if report.status not in (RunStatus.CANCELLED, RunStatus.REJECTED, RunStatus.FAILED):
            failed = self._lost or len(final) < len(self._chunks) or any(r.failed for r in final)
            report.status = RunStatus.FAILED if failed else RunStatus.SUCCEEDED
        report.changes = any(r.changes for r in final)
        report.finished_at = workflow.now().isoformat()
        if self.req.mode == "apply":
            queues = {q for r in self._results.values() for q in r.queues}
            planners = {q for r in self._results.values() for q in r.planners}
            await run_end.cleanup(self.req, queues, planners, run_id=self.run_id)
        await run_end.record_drift(self.req, {}, report, names=self._names)
        return report
