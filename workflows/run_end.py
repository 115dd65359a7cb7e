"""The last steps of a run (used by ParentWorkflow): removing its files, and handing
its result to the config's drift ledger shards."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from tfo.config.drift_models import RecordBatch, RecordRun
    from tfo.config.ledger_shards import config_shards
    from tfo.config.payloads import RunReport, RunRequest, WorkspaceSpec
    from tfo.workflows import retry
    from tfo.workflows.run_report import RECORD_BATCH_BYTES, ledger_parts


async def cleanup(req: RunRequest, queues_used: set[str], planners: set[str], *, run_id: str) -> None:
    """Remove the run's saved plans (they hold variable values) on every queue used.

    Only queues a workspace actually ran on: a queue that never got a worker has no
    files, and an activity sent there would wait for a worker forever. In cluster
    mode each planning worker's own queue too (a worker that is gone took its files
    with it), and the artifact store."""
    for queue in [*sorted(queues_used), *sorted(planners)]:
        try:
            await workflow.execute_activity(
                "cleanup_run",
                args=[req.config.state_dir, run_id],
                task_queue=queue,
                schedule_to_start_timeout=retry.PLANNER_WAIT if queue in planners else None,
                start_to_close_timeout=retry.BOOKKEEPING_TIMEOUT,
                retry_policy=retry.BOOKKEEPING,
            )
        except ActivityError:
            workflow.logger.warning("could not clean up run files on queue %s", queue)
    if req.config.artifacts is not None:
        try:
            await workflow.execute_activity(
                "delete_plans",
                args=[req.config.artifacts, req.config.state_dir, run_id],
                start_to_close_timeout=retry.BOOKKEEPING_TIMEOUT,
                retry_policy=retry.BOOKKEEPING,
            )
        except ActivityError:
            workflow.logger.warning("could not delete the run's plans from the artifact store")


async def record_drift(
    req: RunRequest,
    specs: dict[str, WorkspaceSpec],
    report: RunReport,
    *,
    counted: bool = True,
    primary: bool = True,
    names: Iterable[str] | None = None,
) -> None:
    """Hand the result to the config's drift ledger (durable drift state and alerts), in bounded parts.

    A segment of a big run records its workspaces uncounted; the run's ParentWorkflow
    then sends one record without workspaces, which counts it: `names` are then all of
    the run's workspaces (`specs` those of the report, none), for the shards to tell."""
    # Runs begun before the ledger had shards record as they began: one ledger, in order.
    # (A request field, not workflow.patched: the SDK writes patch markers unencrypted.)
    shards = ledger_parts(report, config_shards(specs if names is None else names) if req.ledger_shards else None)
    lanes = [
        [
            RecordRun(
                config=req.config.name,
                config_id=req.config.id,
                report=part,
                consumes={
                    name: [(m.source_workspace, m.source_output) for m in specs[name].inputs]
                    for name in part.workspaces
                },
                alerts=req.config.alerts,
                ui_url=req.ui_url,
                namespace=req.namespace,
                part=i,
                parts=len(parts),
                shard=shard,
                primary=primary and n == 0,
                counted=counted,
                remediate={name: specs[name].remediate for name in part.workspaces if specs[name].remediate != "alert"},
                state_dir=req.config.state_dir,
            )
            for i, part in enumerate(parts)
        ]
        for n, (shard, parts) in enumerate(shards)
    ]
    if req.record_batches:
        await _send_in_batches(lanes, report.run_id)
        return

    async def send(lane: list[RecordRun]) -> None:
        for record in lane:  # in order: a shard counts the run at its last part
            try:
                await workflow.execute_activity(
                    "record_run",
                    record,
                    start_to_close_timeout=retry.BOOKKEEPING_TIMEOUT,
                    retry_policy=retry.BOOKKEEPING,
                )
            except ActivityError:
                workflow.logger.warning("could not record run %s in drift ledger shard %s", report.run_id, record.shard)
                return

    # Shards in parallel: recording is the last step of every run, and its latency counts.
    await asyncio.gather(*(send(lane) for lane in lanes))


async def _send_in_batches(lanes: list[list[RecordRun]], run_id: str) -> None:
    """Every shard's records, its parts in order: round r sends each shard's part r, the
    shards' records packed into record_runs activities of at most RECORD_BATCH_BYTES.
    A shard whose part could not be delivered gets none of its later parts."""
    failed: set[int] = set()
    for r in range(max((len(lane) for lane in lanes), default=0)):
        due = [(n, lane[r]) for n, lane in enumerate(lanes) if len(lane) > r and n not in failed]

        async def send(batch: list[tuple[int, RecordRun]]) -> None:
            try:
                await workflow.execute_activity(
                    "record_runs",
                    RecordBatch(records=[record for _, record in batch]),
                    start_to_close_timeout=retry.BOOKKEEPING_TIMEOUT,
                    retry_policy=retry.BOOKKEEPING,
                )
            except ActivityError:
                shards = sorted(str(record.shard) for _, record in batch)
                workflow.logger.warning("could not record run %s in drift ledger shards %s", run_id, shards)
                failed.update(n for n, _ in batch)

        await asyncio.gather(*(send(batch) for batch in pack(due, RECORD_BATCH_BYTES)))


def pack(due: list[tuple[int, RecordRun]], budget: int) -> list[list[tuple[int, RecordRun]]]:
    """The records in order, in batches of at most `budget` bytes of JSON; a record
    bigger than that goes in a batch of its own."""
    batches: list[list[tuple[int, RecordRun]]] = []
    size = 0
    for n, record in due:
        n_bytes = len(record.model_dump_json())
        if not batches or size + n_bytes > budget:
            batches.append([])
            size = 0
        batches[-1].append((n, record))
        size += n_bytes
    return batches
