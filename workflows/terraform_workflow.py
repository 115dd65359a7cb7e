"""TerraformWorkflow: one workspace's phase of a run, as a child workflow.

Its workflow ID is derived from the workspace's lock key, so while it runs no
other run can start terraform on that workspace: the child workflow is the lock.
Runs on local dirs lock by file instead and run the phase inline (see dag_run).
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from tfo.config.payloads import WorkspaceOutcome, WorkspaceRequest
    from tfo.workflows import retry
    from tfo.workflows.inputs import phase_failure
    from tfo.workflows.workspace_phase import PhaseTry, WorkspacePhase


def lock_workflow_id(lock_key: str) -> str:
    return f"tfo-ws-{lock_key}"


@workflow.defn(name="TerraformWorkflow")
class TerraformWorkflow:
    @workflow.run
    async def run(self, req: WorkspaceRequest) -> WorkspaceOutcome:
        return await WorkspacePhase(req).run()


async def run_as_child(
    req: WorkspaceRequest, *, run_id: str, task_queue: str, on_start: Callable[[], None]
) -> PhaseTry:
    """The phase as a TerraformWorkflow child, whose ID is the lock; (None, None) when
    another run's child holds it."""
    try:
        handle = await workflow.start_child_workflow(
            TerraformWorkflow.run,
            req,
            id=lock_workflow_id(req.workspace.lock_key),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            memo={"run_id": run_id},
        )
    except WorkflowAlreadyStartedError:
        return None, None
    on_start()
    try:
        result: WorkspaceOutcome = await handle
        return result, None
    except ChildWorkflowError as exc:
        raise phase_failure(exc) from None


async def lock_holder(lock_key: str) -> str:
    """The run whose TerraformWorkflow holds the lock ("unknown" if just released)."""
    holder: str = await workflow.execute_local_activity(
        "describe_lock_holder",
        lock_workflow_id(lock_key),
        result_type=str,
        start_to_close_timeout=retry.BOOKKEEPING_TIMEOUT,
        retry_policy=retry.BOOKKEEPING,
    )
    return holder
