"""TerraformWorkflow: one workspace's phase of a run, as a child workflow.

Its workflow ID is derived from the workspace's lock key, so while it runs no
other run can start terraform on that workspace: the child workflow is the lock.
Runs on local dirs lock by file instead and run the phase inline (see dag_run).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tfo.config.payloads import WorkspaceOutcome, WorkspaceRequest
    from tfo.workflows.workspace_phase import WorkspacePhase


def lock_workflow_id(lock_key: str) -> str:
    return f"tfo-ws-{lock_key}"


@workflow.defn(name="TerraformWorkflow")
class TerraformWorkflow:
    @workflow.run
    async def run(self, req: WorkspaceRequest) -> WorkspaceOutcome:
        return await WorkspacePhase(req).run()
